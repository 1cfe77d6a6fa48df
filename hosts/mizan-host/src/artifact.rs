//! Compile the component once and cache the compiled artifact on disk.
//!
//! Compiling the component with Cranelift takes tens of milliseconds in a release build and
//! seconds in a dev build; loading a serialized artifact takes well under a millisecond. The
//! artifact is `Component::serialize`'s output, stored as
//!
//! ```text
//! <dir>/mizan-kernel-<key>.cwasm = b"MIZANCW1" ‖ sha256(payload) ‖ payload
//! ```
//!
//! where `key` is the SHA-256 of the component bytes and of wasmtime's engine compatibility hash
//! (the wasmtime crate version, the target, the Cranelift flags, the tunables and the enabled
//! wasm features). A new component, a new wasmtime or a different engine configuration therefore
//! gets a new file; wasmtime's own header check rejects anything else that does not fit.
//!
//! # Why `unsafe { Component::deserialize }` is acceptable here
//!
//! Deserializing is unsafe because the bytes are machine code that wasmtime runs without
//! verifying it. We only deserialize a file that
//! - sits at the path derived from the exact component bytes and engine settings,
//! - starts with our magic and whose payload matches the SHA-256 stored next to it — so a
//!   truncated or corrupted file (crash while writing, disk error) is detected and recompiled,
//! - was written by this code with write-to-temp-then-rename, so no reader sees a partial file.
//!
//! The checksum is not a signature: whoever can write the cache directory can run code in the
//! host — the same trust as for the host's own binary. The default directory is the user's own
//! cache directory (`~/.cache/mizan` on Linux). When there is none, the OS temp directory is
//! used; it is shared on Linux, so there the cache directory is per user
//! (`mizan-host-cache-<uid>`), created 0700, and used only when it is a real directory owned by
//! the current user that nobody else can write. Point
//! `MIZAN_HOST_CACHE_DIR` (or [`CacheConfig::Dir`]) at a directory only the service's user can
//! write, or disable the cache ([`CacheConfig::Disabled`]) where that is not available.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"MIZANCW1";

/// Where the compiled artifact is cached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheConfig {
    /// `$MIZAN_HOST_CACHE_DIR` when set; else [`CacheConfig::default_dir`] (the user's cache
    /// directory + `mizan`); else `<temp dir>/mizan-host-cache-<uid>` (private to the user). The
    /// first directory that can be written is used; when none can, the component is compiled in
    /// memory.
    #[default]
    Default,
    /// Exactly this directory (created when missing).
    Dir(PathBuf),
    /// Always compile in memory; never read or write a file.
    Disabled,
}

impl CacheConfig {
    /// The default cache directory when `$MIZAN_HOST_CACHE_DIR` is unset: the user's cache
    /// directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS,
    /// `%LOCALAPPDATA%` on Windows) + `mizan`; `None` when the OS has none for this user.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("mizan"))
    }
}

/// How the component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Deserialized from a cache file.
    Loaded,
    /// Compiled, and the artifact written to a cache file.
    CompiledAndCached,
    /// Compiled in memory (cache disabled, or no cache directory could be written).
    Compiled,
}

/// What happened when the component was loaded: for logs, tests and the bench.
#[derive(Debug, Clone)]
pub struct ArtifactInfo {
    pub source: ArtifactSource,
    /// The cache file read or written, if any.
    pub path: Option<PathBuf>,
    /// Time to compile (`Component::new`) or to read + verify + deserialize the cache file.
    pub load_time: Duration,
    /// Problems met with the cache (unreadable file, unwritable directory…); never fatal.
    pub cache_problems: Vec<String>,
}

/// Feeds `Hash` output into SHA-256, so a `Hash` value becomes part of a stable digest.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0 // unused: the digest is read from the inner state
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file name for these component bytes under this engine.
pub(crate) fn artifact_file_name(engine: &Engine, component: &[u8]) -> String {
    let mut h = ShaHasher(Sha256::new());
    h.write(b"mizan-host artifact v1\0");
    h.write(&Sha256::digest(component));
    engine.precompile_compatibility_hash().hash(&mut h);
    let digest = h.0.finalize();
    format!("mizan-kernel-{}.cwasm", hex(&digest))
}

/// A cache directory, and whether it sits in a shared location (the OS temp dir) where it must
/// be proven private before use.
struct CacheDir {
    path: PathBuf,
    shared: bool,
}

fn candidate_dirs(config: &CacheConfig) -> Vec<CacheDir> {
    let chosen = |path: PathBuf| CacheDir { path, shared: false };
    match config {
        CacheConfig::Disabled => Vec::new(),
        CacheConfig::Dir(dir) => vec![chosen(dir.clone())],
        CacheConfig::Default => {
            if let Some(dir) = std::env::var_os("MIZAN_HOST_CACHE_DIR").filter(|d| !d.is_empty()) {
                return vec![chosen(PathBuf::from(dir))];
            }
            let mut dirs: Vec<CacheDir> = CacheConfig::default_dir().map(chosen).into_iter().collect();
            dirs.push(CacheDir { path: std::env::temp_dir().join(temp_dir_name()), shared: true });
            dirs
        }
    }
}

#[cfg(target_os = "linux")]
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn temp_dir_name() -> String {
    #[cfg(target_os = "linux")]
    if let Some(uid) = current_uid() {
        return format!("mizan-host-cache-{uid}");
    }
    "mizan-host-cache".to_string()
}

/// In a shared temp dir (Linux `/tmp`), another user could create our directory first and
/// plant a file in it. Use it only when it is a real directory, owned by us, that nobody else
/// can write (created 0700). Elsewhere the temp dir is per-user (macOS, Windows).
fn check_private(dir: &CacheDir) -> Result<(), String> {
    if !dir.shared {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir.path);
        let me = current_uid().ok_or("cannot tell the current user")?;
        let md = std::fs::symlink_metadata(&dir.path).map_err(|e| format!("{}: {e}", dir.path.display()))?;
        if !md.is_dir() || md.uid() != me || md.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is not a private directory of this user: not used as a cache",
                dir.path.display()
            ));
        }
    }
    Ok(())
}

/// Read and verify a cache file; `None` when it is absent.
fn load(engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(format!("{} is not a mizan-host artifact", path.display()));
    };
    if rest.len() < 32 || Sha256::digest(&rest[32..]).as_slice() != &rest[..32] {
        return Err(format!("{} fails its checksum (truncated or corrupted)", path.display()));
    }
    // SAFETY: see the module documentation: the file is at the path keyed by the component and
    // engine, carries our magic, and its payload matches the checksum written with it, so it is
    // the unmodified output of `Component::serialize` by this code for this engine.
    unsafe { Component::deserialize(engine, &rest[32..]) }
        .map(Some)
        .map_err(|e| format!("cannot deserialize {}: {e}", path.display()))
}

/// Write atomically: a temp file in the same directory, then rename over the final name.
fn store(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".tmp-{}-{nanos}-{:?}", std::process::id(), std::thread::current().id()));
    let mut data = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&Sha256::digest(payload));
    data.extend_from_slice(payload);
    let result = std::fs::write(&tmp, &data).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The component for `engine`: from the cache when possible, else compiled (and cached).
pub(crate) fn load_component(engine: &Engine, bytes: &[u8], config: &CacheConfig) -> Result<(Component, ArtifactInfo)> {
    // One load-or-compile at a time in a process: threads creating kernels at once compile
    // once, and the others load what the first one wrote.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = candidate_dirs(config);
    let name = artifact_file_name(engine, bytes);
    let mut problems = Vec::new();
    let mut usable = Vec::new();
    for dir in dirs {
        match check_private(&dir) {
            Ok(()) => usable.push(dir.path),
            Err(problem) => problems.push(problem),
        }
    }
    let dirs = usable;
    for dir in &dirs {
        let path = dir.join(&name);
        let start = Instant::now();
        match load(engine, &path) {
            Ok(Some(component)) => {
                let info = ArtifactInfo {
                    source: ArtifactSource::Loaded,
                    path: Some(path),
                    load_time: start.elapsed(),
                    cache_problems: problems,
                };
                return Ok((component, info));
            }
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }

    let start = Instant::now();
    let component =
        Component::new(engine, bytes).map_err(|e| Error::Host(format!("cannot compile the kernel component: {e:?}")))?;
    let load_time = start.elapsed();
    let mut info = ArtifactInfo { source: ArtifactSource::Compiled, path: None, load_time, cache_problems: problems };
    if dirs.is_empty() {
        return Ok((component, info));
    }
    match component.serialize() {
        Ok(payload) => {
            for dir in &dirs {
                let path = dir.join(&name);
                match store(&path, &payload) {
                    Ok(()) => {
                        info.source = ArtifactSource::CompiledAndCached;
                        info.path = Some(path);
                        break;
                    }
                    Err(e) => info.cache_problems.push(format!("cannot write {}: {e}", path.display())),
                }
            }
        }
        Err(e) => info.cache_problems.push(format!("cannot serialize the compiled component: {e}")),
    }
    Ok((component, info))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_shared_cache_dir_must_be_private() {
        let path = std::env::temp_dir().join(format!("mizan-host-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let dir = CacheDir { path: path.clone(), shared: true };
        check_private(&dir).unwrap(); // creates it 0700
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_private(&dir).unwrap_err().contains("not a private directory"));
        std::fs::remove_dir_all(&path).unwrap();
        // A symlink (or file) in its place is refused too.
        std::os::unix::fs::symlink(std::env::temp_dir(), &path).unwrap();
        assert!(check_private(&dir).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
