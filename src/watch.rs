//! Watches the config file's directory with inotify and requests a reload when the file's content changes.
//!
//! Watching the directory, not the file, catches every way editors and tools replace a file: write-and-rename
//! (vim), truncate-and-write (`cp`), and symlink swaps (Kubernetes ConfigMaps' `..data`). Events are debounced
//! until the directory is quiet, and only a content change counts, so one save gives one reload.

use crate::reload::{Queue, Reloader, Trigger};
use inotify::{Inotify, WatchMask};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last event before the file is looked at.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How often the thread checks whether it should stop.
const TICK: Duration = Duration::from_millis(500);

fn dirs_of(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let parent =
        |p: &Path| p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
    if let Some(d) = parent(path) {
        dirs.push(d);
    }
    // A symlinked config (ConfigMap style) also changes where the link points: watch that directory too.
    if let Some(d) = std::fs::canonicalize(path).ok().as_deref().and_then(parent) {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// Waits up to `timeout` for the inotify fd to become readable.
fn readable(fd: i32, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll on one pollfd we own.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) > 0 }
}

/// Starts the watcher thread.
pub fn spawn(
    path: String,
    reloader: Arc<Reloader>,
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut inotify = Inotify::init()?;
    let mask = WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB;
    let mut watched = Vec::new();
    for d in dirs_of(Path::new(&path)) {
        inotify.watches().add(&d, mask)?;
        watched.push(d);
    }
    log::info!(
        "watching {} for changes to {path}",
        watched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    std::thread::Builder::new().name("config-watch".into()).spawn(move || {
        let mut buf = [0u8; 4096];
        let fd = inotify.as_raw_fd();
        while !stop.load(Ordering::SeqCst) {
            if !readable(fd, TICK) {
                continue;
            }
            // Drain until the directory has been quiet for DEBOUNCE.
            loop {
                match inotify.read_events(&mut buf) {
                    Ok(events) => events.for_each(drop),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        log::warn!("config watch stopped: {e}");
                        return;
                    }
                }
                if !readable(fd, DEBOUNCE) {
                    break;
                }
            }
            for d in dirs_of(Path::new(&path)) {
                if !watched.contains(&d) && inotify.watches().add(&d, mask).is_ok() {
                    watched.push(d);
                }
            }
            if reloader.file_changed() {
                queue.request(Trigger::File);
            }
        }
    })
}
