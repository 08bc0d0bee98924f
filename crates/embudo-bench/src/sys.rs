//! Where the CPU time went, and what machine this is, from `/proc` (Linux only; elsewhere
//! the figures read as zero).
//!
//! The server and the load generator run in one process on separate Tokio runtimes whose
//! threads are named apart ([`SERVER_THREADS`], [`CLIENT_THREADS`]), so the client's share can
//! be told from the server's. The machine-wide figure shows how much of the two cores the
//! benchmark had: other people's compilers (and PostgreSQL, which runs in its own processes)
//! show up as the difference between the machine's busy time and this process's.

use std::path::Path;
use std::time::Instant;

/// Name prefix of the server runtime's threads (workers and blocking pool, where SQLite runs).
pub const SERVER_THREADS: &str = "embudo-srv";
/// Name prefix of the load generator's threads.
pub const CLIENT_THREADS: &str = "bench-cli";

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on every Linux
/// configuration this runs on).
const TICKS: f64 = 100.0;

fn stat_fields(text: &str) -> Option<(String, Vec<u64>)> {
    // The command name is in parentheses and may hold spaces; the fields after it start at
    // field 3, so utime and stime (fields 14 and 15) are at indexes 11 and 12.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields = text[close + 1..]
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Some((name, fields))
}

fn cpu_of(fields: &[u64]) -> f64 {
    (fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)) as f64 / TICKS
}

/// User plus system CPU seconds of this process (threads that ended included).
pub fn process_cpu() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| stat_fields(&t))
        .map_or(0.0, |(_, f)| cpu_of(&f))
}

/// CPU seconds of this process's live threads whose name starts with `prefix`.
pub fn threads_cpu(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter_map(|t| stat_fields(&t))
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, f)| cpu_of(&f))
        .sum()
}

/// The PostgreSQL cluster listening on `port`: its postmaster, found by the `-D` directory
/// on its command line whose `postmaster.pid` names that port.
fn postmaster(port: u16) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first().is_some_and(|a| a.ends_with("/postgres")) {
            continue;
        }
        let Some(dir) = args
            .iter()
            .position(|a| a == "-D")
            .and_then(|i| args.get(i + 1))
        else {
            continue;
        };
        let pidfile =
            std::fs::read_to_string(Path::new(dir).join("postmaster.pid")).unwrap_or_default();
        // Line 4 of postmaster.pid is the port.
        if pidfile
            .lines()
            .nth(3)
            .and_then(|l| l.trim().parse::<u16>().ok())
            == Some(port)
        {
            return Some(pid);
        }
    }
    None
}

/// CPU seconds of a PostgreSQL cluster: the postmaster and its live children (backends,
/// WAL writer, checkpointer…), plus the children it already reaped.
pub fn cluster_cpu(postmaster: u32) -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some((_, f)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|t| stat_fields(&t))
        else {
            continue;
        };
        // Field 4 (index 1) is the parent; cutime and cstime (indexes 13 and 14) are reaped
        // children's times.
        if pid == postmaster {
            total += cpu_of(&f)
                + (f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)) as f64
                    / TICKS;
        } else if f.get(1).copied() == Some(postmaster as u64) {
            total += cpu_of(&f);
        }
    }
    total
}

/// The postmaster of the cluster named by a `postgres://` URL, when it runs on this machine.
pub fn postmaster_of(url: &str) -> Option<u32> {
    let port = url
        .split('@')
        .nth(1)?
        .split('/')
        .next()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()?;
    postmaster(port)
}

/// Bytes this process caused to be written to storage (`write_bytes` of `/proc/self/io`).
pub fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// (busy, total) CPU seconds of the whole machine, all cores.
pub fn machine_cpu() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0.0, 0.0);
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<f64>().unwrap_or(0.0) / TICKS)
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// CPU use over an interval.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuUse {
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of this process.
    pub process: f64,
    /// CPU seconds of the load generator's threads.
    pub client: f64,
    /// Busy CPU seconds of the whole machine (every process, ours included).
    pub machine_busy: f64,
    /// CPU seconds the machine had (wall × cores).
    pub machine_total: f64,
    /// Bytes this process wrote to storage (SQLite's log, checkpoints and file).
    pub written_bytes: u64,
    /// CPU seconds of the PostgreSQL cluster, for PostgreSQL runs.
    pub database: f64,
}

impl CpuUse {
    /// CPU seconds of the server (this process minus the client).
    pub fn server(&self) -> f64 {
        (self.process - self.client).max(0.0)
    }

    /// Busy CPU outside this process and the database (other people's work), in seconds.
    pub fn others(&self) -> f64 {
        (self.machine_busy - self.process - self.database).max(0.0)
    }
}

/// A starting point for [`CpuUse`].
pub struct CpuMark {
    at: Instant,
    process: f64,
    client: f64,
    machine: (f64, f64),
    written: u64,
    postmaster: Option<u32>,
    database: f64,
}

impl CpuMark {
    /// Now; with the postmaster of the PostgreSQL cluster under test, if any.
    pub fn now(postmaster: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            process: process_cpu(),
            client: threads_cpu(CLIENT_THREADS),
            machine: machine_cpu(),
            written: written_bytes(),
            postmaster,
            database: postmaster.map_or(0.0, cluster_cpu),
        }
    }

    /// What was used since the mark.
    pub fn since(&self) -> CpuUse {
        let machine = machine_cpu();
        CpuUse {
            wall: self.at.elapsed().as_secs_f64(),
            process: process_cpu() - self.process,
            client: threads_cpu(CLIENT_THREADS) - self.client,
            machine_busy: machine.0 - self.machine.0,
            machine_total: machine.1 - self.machine.1,
            written_bytes: written_bytes().saturating_sub(self.written),
            database: self
                .postmaster
                .map_or(0.0, |pid| cluster_cpu(pid) - self.database),
        }
    }
}

/// The machine, for the record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// The CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Total memory.
    pub memory: String,
    /// The kernel release.
    pub kernel: String,
    /// When (UTC).
    pub date: String,
}

impl Machine {
    /// Reads it from `/proc`.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or("unknown".into(), |kib| {
                format!("{:.1} GiB", kib / 1024.0 / 1024.0)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory,
            kernel,
            date: chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cores ({}), {} memory, Linux {}, {}",
            self.cores, self.cpu, self.memory, self.kernel, self.date
        )
    }
}
