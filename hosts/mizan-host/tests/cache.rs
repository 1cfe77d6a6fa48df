//! The compiled-artifact cache: compile once, then load the serialized artifact.

use mizan_host::{ArtifactSource, CacheConfig, Kernel};
use serde_json::json;

fn temp_cache(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mizan-host-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_second_kernel_loads_the_serialized_artifact() {
    let dir = temp_cache("second");
    let first = Kernel::builder().cache(CacheConfig::Dir(dir.clone())).build().unwrap();
    assert_eq!(first.artifact().source, ArtifactSource::CompiledAndCached, "{:?}", first.artifact());
    let path = first.artifact().path.clone().unwrap();
    assert!(path.is_file(), "{}", path.display());
    assert!(path.starts_with(&dir));

    let second = Kernel::builder().cache(CacheConfig::Dir(dir.clone())).build().unwrap();
    assert_eq!(second.artifact().source, ArtifactSource::Loaded, "{:?}", second.artifact());
    assert_eq!(second.artifact().path.as_ref(), Some(&path));
    assert!(second.artifact().cache_problems.is_empty());
    // Loading works: the loaded component answers like the compiled one.
    assert_eq!(second.stringify(&json!(1e21)).unwrap(), first.stringify(&json!(1e21)).unwrap());
    assert_eq!(second.stringify(&json!(1e21)).unwrap(), "1e+21");

    // A damaged file is detected by its checksum and replaced, never deserialized.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let third = Kernel::builder().cache(CacheConfig::Dir(dir.clone())).build().unwrap();
    assert_eq!(third.artifact().source, ArtifactSource::CompiledAndCached);
    assert!(third.artifact().cache_problems[0].contains("checksum"), "{:?}", third.artifact());
    let fourth = Kernel::builder().cache(CacheConfig::Dir(dir.clone())).build().unwrap();
    assert_eq!(fourth.artifact().source, ArtifactSource::Loaded);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_default_cache_is_used_by_kernel_new() {
    let first = Kernel::new().unwrap();
    let path = first.artifact().path.clone().expect("a cache file");
    assert!(path.is_file());
    let second = Kernel::new().unwrap();
    assert_eq!(second.artifact().source, ArtifactSource::Loaded, "{:?}", second.artifact());
    assert_eq!(second.artifact().path.as_ref(), Some(&path));
    match std::env::var_os("MIZAN_HOST_CACHE_DIR") {
        Some(dir) => assert!(path.starts_with(dir)),
        None => {
            // The user's cache directory, never the mizan checkout's `target/`.
            assert!(path.starts_with(CacheConfig::default_dir().unwrap()), "{}", path.display());
            assert!(!path.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")), "{}", path.display());
        }
    }
}

/// `MIZAN_HOST_CACHE_DIR` overrides the default: checked in a child process (the variable is
/// read when a kernel is built, and changing the environment of this multi-threaded test
/// process is not sound), which loads the artifact this process copied there.
#[test]
fn the_cache_dir_variable_overrides_the_default() {
    if let Some(dir) = std::env::var_os("MIZAN_HOST_TEST_EXPECT_CACHE_DIR") {
        let kernel = Kernel::new().unwrap();
        let path = kernel.artifact().path.clone().expect("a cache file");
        assert!(path.starts_with(&dir), "{} is not under {}", path.display(), dir.to_string_lossy());
        assert_eq!(kernel.artifact().source, ArtifactSource::Loaded, "{:?}", kernel.artifact());
        return;
    }
    let here = Kernel::new().unwrap();
    let artifact = here.artifact().path.clone().expect("a cache file");
    let dir = temp_cache("env");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&artifact, dir.join(artifact.file_name().unwrap())).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_cache_dir_variable_overrides_the_default", "--nocapture"])
        .env("MIZAN_HOST_CACHE_DIR", &dir)
        .env("MIZAN_HOST_TEST_EXPECT_CACHE_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_cache_falls_back_to_compiling_in_memory() {
    // A regular file where the directory should be: nothing can be created under it.
    let blocker = temp_cache("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let kernel = Kernel::builder().cache(CacheConfig::Dir(blocker.join("sub"))).build().unwrap();
    assert_eq!(kernel.artifact().source, ArtifactSource::Compiled);
    assert!(kernel.artifact().path.is_none());
    assert!(!kernel.artifact().cache_problems.is_empty());
    assert_eq!(kernel.stringify(&json!("a")).unwrap(), "a");
    let _ = std::fs::remove_file(&blocker);

    let disabled = Kernel::builder().cache(CacheConfig::Disabled).build().unwrap();
    assert_eq!(disabled.artifact().source, ArtifactSource::Compiled);
    assert!(disabled.artifact().cache_problems.is_empty());
}
