//! What the benches share: this process's memory, as `/proc/self/status` counts it.

/// The field `name` of `/proc/self/status` (`"VmRSS:"`, `"RssAnon:"`, `"RssFile:"`), in bytes
/// (0 where there is no such file).
pub fn status_bytes(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
