//! Creating files in a bench's work dir, which every Maildir delivery does. Included by
//! the benches that deliver mail with `#[path]`.

use std::path::Path;
use std::time::{Duration, Instant};

/// The median time to create a 3 KB file in `folder`, in microseconds. ext4's cost
/// differs from folder to folder (see below): probe where the bench writes. The probe
/// files stay (a deletion would slow the next creations down).
pub fn create_file_us(folder: &Path) -> f64 {
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let probe = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let content = [b'x'; 3000];
    let mut samples: Vec<Duration> = (0..100)
        .map(|index| {
            let start = Instant::now();
            std::fs::write(folder.join(format!("create-probe-{probe}-{index}")), content).expect("probe file");
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// ext4 skips inodes deleted in the last minute or more when it allocates new ones, and
/// after many deletions nearby (the previous run's work dir, other programs' temp files)
/// creating a file costs up to a millisecond or two instead of tens of microseconds.
/// Waits (at most two minutes) until creating a file in `folder` is fast again, says so
/// when it had to, and gives the last cost measured (microseconds).
pub fn settle_file_creation(folder: &Path) -> f64 {
    const SLOW_US: f64 = 250.0;
    let start = Instant::now();
    let first = create_file_us(folder);
    if first < SLOW_US {
        return first;
    }
    let mut now = first;
    while now >= SLOW_US && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_secs(10));
        now = create_file_us(folder);
    }
    println!(
        "  creating a file took {first:.0} us (ext4 after many recent deletions nearby); waited {:.0} s: now {now:.0} us{}",
        start.elapsed().as_secs_f64(),
        if now >= SLOW_US { " (still slow: figures below include it)" } else { "" }
    );
    now
}
