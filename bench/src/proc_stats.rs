//! CPU time and memory of a process, from /proc.

use anyhow::Context;

#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    pub peak_rss_kb: u64,
    pub rss_kb: u64,
}

impl ProcessStats {
    pub fn read(pid: u32) -> anyhow::Result<ProcessStats> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .context("reading /proc/PID/stat")?;
        // Fields after the command name, which sits in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')').context("malformed stat")? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = clock_ticks();
        let utime: f64 = fields[11].parse()?;
        let stime: f64 = fields[12].parse()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(ProcessStats {
            cpu_seconds: (utime + stime) / ticks,
            peak_rss_kb: kb("VmHWM:"),
            rss_kb: kb("VmRSS:"),
        })
    }

    pub fn current() -> anyhow::Result<ProcessStats> {
        Self::read(std::process::id())
    }
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on.
    100.0
}
