//! CPU time of processes, read from /proc (Linux).

use std::process::Child;

/// Seconds of CPU a process's /proc stat line records: its own (user and
/// system) and, with `children`, that of its children it has waited for.
fn stat_cpu_seconds(stat: &str, children: bool) -> f64 {
    // The command name (in parentheses) may hold spaces: fields are
    // counted after its closing parenthesis, from the state (field 3).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14 to 17.
    let take = if children { 4 } else { 2 };
    let ticks: f64 = fields.iter().skip(11).take(take).sum();
    ticks / 100.0
}

/// A process's CPU time so far (user and system), in seconds.
pub fn cpu_seconds(child: &Child) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    stat_cpu_seconds(&stat, false)
}

/// The CPU time of every PostgreSQL process on this machine so far, those
/// that have ended included (their parent has counted them), in seconds.
#[allow(dead_code, reason = "not every benchmark measures PostgreSQL")]
pub fn postgres_cpu_seconds() -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if stat.contains("(postgres)") {
            total += stat_cpu_seconds(&stat, true);
        }
    }
    total
}
