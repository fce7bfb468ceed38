//! End-to-end: the cache's disk tier: kept across restarts, a corrupt or truncated file
//! dropped at startup, and a disk that fills or a folder that cannot be used leaving the
//! memory tier serving.
use crate::cache::start;
use crate::common;

use common::cache_origin::CacheOrigin;
use common::*;
use std::time::{Duration, Instant};

/// What the disk tier holds: `forecourt_cache_objects{tier="disk"}`.
async fn disk_objects(admin: &str) -> f64 {
    metric(&get(&format!("{admin}/metrics")).await.body, "forecourt_cache_objects{tier=\"disk\"}")
}

async fn disk_objects_become(admin: &str, n: f64) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while disk_objects(admin).await != n {
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The file of the disk tier that holds `needle` (a URL's path).
fn disk_file_of(folder: &str, needle: &str) -> std::path::PathBuf {
    let files = std::fs::read_dir(folder).unwrap().flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap());
    files
        .map(|f| f.unwrap().path())
        .find(|p| std::fs::read(p).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or_else(|| panic!("no file holds {needle}"))
}

/// Objects on disk are served after a restart without the origin; a corrupt file and a
/// truncated one are dropped and fetched again, never served, and files that are not the
/// cache's are left alone; a purge by tag reaches the disk too, so that a restart does not
/// bring the purged object back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_tier_survives_restarts_and_drops_corrupt_files() {
    let origin = CacheOrigin::start();
    let section = "[cache]\nmemory = \"8m\"\nmax_object = \"1m\"\ndisk = { path = \"{dir}/cache\", size = \"32m\" }";
    let (mut fc, admin) = start(&origin, "true", section);
    let paths =
        ["/d/1?cc=max-age%3D600", "/d/2?cc=max-age%3D600", "/d/3?cc=max-age%3D600", "/d/4?cc=max-age%3D600&tag=blue"];
    let mut first = Vec::new();
    for path in paths {
        first.push(get(&fc.url(path)).await.body);
    }
    assert!(disk_objects_become(&admin, 4.0).await, "{}", disk_objects(&admin).await);
    let folder = fc.dir.path("cache");
    fc.child.kill().unwrap();
    fc.child.wait().unwrap();
    // /d/2: one byte of its body flipped; /d/3: cut short.
    let two = disk_file_of(&folder, "/d/2");
    let mut bytes = std::fs::read(&two).unwrap();
    let at = bytes.windows(7).position(|w| w == b"fetch 1").unwrap();
    bytes[at] = b'F';
    std::fs::write(&two, bytes).unwrap();
    let three = disk_file_of(&folder, "/d/3");
    let len = std::fs::metadata(&three).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&three).unwrap().set_len(len - 10).unwrap();
    // A write cut short by the kill, and files that are not the cache's (a folder given by
    // mistake holds such): only the first is deleted.
    std::fs::write(three.with_extension("partial"), b"FCCACHE1 and then nothing").unwrap();
    let foreign =
        ["notes.txt", "zz/0123456789abcdef", "00/readme", "00/0123456789abcdef", "00/0123456789abcdef.partial"];
    for name in foreign {
        let path = std::path::Path::new(&folder).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"someone else's").unwrap();
    }

    fc.restart();
    wait_for_port(admin.rsplit(':').next().unwrap().parse().unwrap());
    assert!(disk_objects_become(&admin, 3.0).await, "the truncated file is dropped at startup");
    let one = get(&fc.url(paths[0])).await;
    assert_eq!(one.body, first[0]);
    assert!(one.header("cache-status").starts_with("Forecourt; hit"), "{:?}", one.headers);
    assert_eq!(origin.hits(paths[0]), 1, "served from disk after a restart");
    for (i, path) in paths.iter().enumerate().skip(1).take(2) {
        let r = get(&fc.url(path)).await;
        assert_eq!(r.body, "fetch 2 lang=-\n", "{path}: the damaged copy is not served");
        assert_eq!(origin.hits(path), 2, "{path} ({i})");
    }
    let metrics = get(&format!("{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_cache_disk_corrupt_total"), 3.0, "{metrics}");
    assert!(!three.with_extension("partial").exists());
    for name in foreign {
        let kept = std::fs::read(std::path::Path::new(&folder).join(name));
        assert_eq!(kept.ok().as_deref(), Some(&b"someone else's"[..]), "{name} left alone");
    }

    let req = http::Request::post(format!("{admin}/api/cache/purge")).body(r#"{"tag": "blue"}"#.into()).unwrap();
    let purge = send(&client(), req).await;
    assert_eq!(purge.status, 200, "{}", purge.body);
    // /d/1, and /d/2 and /d/3 stored again; /d/4 purged.
    assert!(disk_objects_become(&admin, 3.0).await, "{}", disk_objects(&admin).await);
    fc.restart();
    wait_for_port(admin.rsplit(':').next().unwrap().parse().unwrap());
    assert!(disk_objects_become(&admin, 3.0).await);
    let four = get(&fc.url(paths[3])).await;
    assert_eq!(four.body, "fetch 2 lang=-\n", "a purged object stays purged after a restart");
}

/// Unmounts a tmpfs when the test ends, however it ends.
struct Mounted(String);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A disk that fills up (a 128 KiB tmpfs under a 32 MiB tier; where mounting is not
/// allowed, the folder replaced by a file) degrades to memory with a warning: every object
/// is still stored and served from memory. A reload to a folder that cannot be used is
/// refused and the running config keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_degrades_to_memory() {
    let origin = CacheOrigin::start();
    let section = "[cache]\nmemory = \"8m\"\nmax_object = \"1m\"\ndisk = { path = \"{dir}/cache\", size = \"32m\" }";
    let config = |section: &str| {
        let admin_line = "admin = \"127.0.0.1:{admin}\"";
        format!(
            "[global]\nworkers = 2\n{admin_line}\n{section}\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
             [[route]]\nupstream = \"o\"\ncache = true\n[upstream.o]\nservers = [\"{}\"]\n",
            origin.addr
        )
    };
    let admin_port = free_port();
    let with_port = |text: String| text.replace("{admin}", &admin_port.to_string());
    let fc = Forecourt::start(&with_port(config(section)));
    wait_for_port(admin_port);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let folder = fc.dir.path("cache");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs", &folder])
        .status()
        .is_ok_and(|s| s.success());
    let _unmount = mounted.then(|| Mounted(folder.clone()));
    if !mounted {
        std::fs::remove_dir_all(&folder).unwrap();
        std::fs::write(&folder, "not a folder").unwrap();
    }
    let paths: Vec<String> = (0..8).map(|i| format!("/full/{i}?cc=max-age%3D600&size=40000")).collect();
    for path in &paths {
        assert_eq!(get(&fc.url(path)).await.status, 200);
    }
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("cache disk write failed")), "{}", fc.stderr());
    let metrics = get(&format!("{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_cache_disk_writable"), 0.0, "{metrics}");
    for path in &paths {
        let r = get(&fc.url(path)).await;
        assert!(r.header("cache-status").starts_with("Forecourt; hit"), "{path}: {:?}", r.headers);
        assert_eq!(origin.hits(path), 1, "{path}");
    }

    let file = fc.dir.file("plain", "not a folder");
    fc.rewrite(&with_port(config(&section.replace("{dir}/cache", &format!("{file}/cache")))));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("cannot use")), "{}", fc.stderr());
    let r = get(&fc.url(&paths[0])).await;
    assert!(r.header("cache-status").starts_with("Forecourt; hit"), "the old config keeps serving: {:?}", r.headers);
}
