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
    if std::env::var_os("MIZAN_HOST_CACHE_DIR").is_none() {
        assert!(path.ends_with(std::path::Path::new("target/mizan-host-cache").join(path.file_name().unwrap())));
    }
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
