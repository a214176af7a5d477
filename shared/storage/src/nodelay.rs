//! TCP_NODELAY for database connections.
//!
//! sqlx 0.9.0 stopped setting TCP_NODELAY on its sockets (upstream issue 4335, fixed but not
//! yet released). Without it, Nagle's algorithm meets the server's delayed ACKs and a
//! statement can wait 40 ms for nothing: measured here, PostgreSQL ingest of single events
//! ran at a fifth of its speed. sqlx does not expose its socket, so after each new
//! connection this sets the option on every TCP socket of the process — harmless for the
//! others (the HTTP server and the Redis client want it too). Remove once sqlx sets it again.

/// Sets TCP_NODELAY on every TCP socket this process has open.
pub(crate) fn apply_to_open_sockets() {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::BorrowedFd;

        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in entries.flatten() {
            let is_socket = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if !is_socket {
                continue;
            }
            // SAFETY: the descriptor is one of this process's; it is only borrowed for the
            // duration of one setsockopt call, which fails harmlessly if it was closed (or
            // reused by something that is not a TCP socket) in the meantime.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
        }
    }
}
