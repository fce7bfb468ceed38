//! What purges cost a memory tier of many objects (not a test: run it, read the figures).
//!
//!     cargo run --release -p forecourt-cache --example purge_cost [OBJECTS]
//!
//! Fills a store with OBJECTS (default 300,000) small responses under plain keys, each
//! tagged with one of 100 tags, then times a lookup of 100,000 of them, a prefix purge (a
//! scan of every entry), a tag purge and purges of one URL (their keys removed without a
//! scan), and the same lookups after each: a purge must not make the hits after it slower.
//! Last, what a reload that resizes the memory tier costs: the new store's takeover of
//! the objects (`Store::take_over`).
use forecourt_cache::freshness::Timing;
use forecourt_cache::stored::Stored;
use forecourt_cache::{Purge, Store, StoreConfig};
use std::sync::Arc;
use std::time::Instant;

fn url(i: usize) -> String {
    format!("http://example.com/p/{i}?x=1")
}

fn stored(tag: String) -> Stored {
    Stored {
        body: bytes::Bytes::from_static(b"hello"),
        tags: vec![tag.into()],
        timing: Timing { request_time: 100, response_time: 100, initial_age: 0 },
        lifetime: 600,
        ..Default::default()
    }
}

/// The map's upkeep of the lookups made so far (deferred, a batch at a time, to whatever
/// writes next: about a millisecond here), done before a clock starts.
fn upkeep(store: &Store) {
    for _ in 0..100 {
        store.memory_usage();
    }
}

/// Microseconds per lookup over the first 100,000 URLs.
fn lookups(store: &Store, objects: usize) -> f64 {
    let n = objects.min(100_000);
    let keys: Vec<String> = (0..n).map(url).collect();
    let started = Instant::now();
    let found = keys.iter().filter(|k| store.get(k).is_some()).count();
    assert!(found + 1 >= n / 10, "most are there");
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let objects: usize = std::env::args().nth(1).map_or(300_000, |n| n.parse().expect("OBJECTS is a number"));
    let store = Arc::new(Store::open(StoreConfig { memory: 8 << 30, max_object: 1 << 20, disk: None }).unwrap());
    for i in 0..objects {
        let key: Arc<str> = url(i).into();
        store.put(&key, &key, Arc::new(stored(format!("t{}", i % 100))));
    }
    println!("{objects} objects; lookups {:.2} µs each", lookups(&store, objects));
    upkeep(&store);
    let started = Instant::now();
    let removed = store.purge(&Purge::Prefix("http://example.com/p/29".into()));
    println!("prefix purge: {removed} objects in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    println!("lookups after it {:.2} µs each", lookups(&store, objects));
    upkeep(&store);
    let started = Instant::now();
    let removed = store.purge(&Purge::Tag("t7".into()));
    println!("tag purge: {removed} objects in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    println!("lookups after it {:.2} µs each", lookups(&store, objects));
    for i in [8, 9, 10] {
        // The map's upkeep of the lookups just made (deferred, a batch at a time, to
        // whatever writes next: about a millisecond here), done before the clock starts.
        upkeep(&store);
        let started = Instant::now();
        let removed = store.purge(&Purge::Url(url(i)));
        println!("one URL's purge: {removed} object in {:.1} µs", started.elapsed().as_secs_f64() * 1e6);
        println!("lookups after it {:.2} µs each", lookups(&store, objects));
    }
    let resized = StoreConfig { memory: 16 << 30, ..store.config.clone() };
    let replacement = Arc::new(Store::prepare(resized, Some(&store)).unwrap());
    let started = Instant::now();
    replacement.take_over(&store);
    replacement.wait_for_takeover();
    let taken = started.elapsed().as_secs_f64() * 1e3;
    println!("a resized tier's takeover: {} objects in {taken:.1} ms", replacement.memory_usage().objects);
}
