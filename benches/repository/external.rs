//! The programs the benchmark compares with or drives besides chartroom: wrk, nginx (serving the
//! same index bytes), `helm repo index`; and the description of the machine.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chartroom_testkit::Helm;
use chartroom_testkit::process::{Process, free_port};

use crate::Res;

pub struct WrkResult {
    pub rps: f64,
    pub latency_line: String,
    /// From `--latency`: p50 and p99 of the latency distribution, and the maximum.
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub non_2xx: u64,
    pub socket_errors: String,
}

/// `wrk -t2 -c64 -d<secs>s --latency <url>`.
pub fn run_wrk(wrk: &Path, secs: u32, url: &str) -> Res<WrkResult> {
    run_wrk_with(wrk, secs, url, &[])
}

/// `wrk -t2 -c64 -d<secs>s --latency [-H <header>]... <url>`.
pub fn run_wrk_with(wrk: &Path, secs: u32, url: &str, headers: &[&str]) -> Res<WrkResult> {
    let mut command = Command::new(wrk);
    command.args(["-t2", "-c64", &format!("-d{secs}s"), "--latency"]);
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.arg(url).output().map_err(|e| format!("running {}: {e}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("wrk failed: {text} {}", String::from_utf8_lossy(&out.stderr)));
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output: {text}"))?;
    let latency_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let socket_errors = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| "none".into());
    let percentile = |p: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(p)).and_then(|v| wrk_duration(v.trim())).unwrap_or_default()
    };
    // `Latency <avg> <stdev> <max> <+/- stdev>`
    let max = latency_line.split_whitespace().nth(3).and_then(wrk_duration).unwrap_or_default();
    Ok(WrkResult { rps, latency_line, p50: percentile("50%"), p99: percentile("99%"), max, non_2xx, socket_errors })
}

/// A wrk duration: `635.91us`, `2.19ms`, `1.02s`, `1.50m`.
fn wrk_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let secs = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// p50 / p99 / max of a wrk run, in milliseconds.
pub fn wrk_latencies(r: &WrkResult) -> String {
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    format!("p50 {} / p99 {} / max {} ms", ms(r.p50), ms(r.p99), ms(r.max))
}

/// nginx serving `index.yaml` from a folder, with a generated configuration; stopped with SIGTERM
/// (so the master stops its workers) on drop.
pub struct Nginx {
    process: Process,
}

impl Nginx {
    /// Starts nginx on a free port serving `body` as `/index.yaml`; returns it and that URL.
    pub async fn start(nginx: &Path, http: &reqwest::Client, dir: &Path, body: &[u8]) -> Res<(Nginx, String)> {
        let www = dir.join("www");
        fs::create_dir_all(www.join("x")).map_err(|e| e.to_string())?;
        fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        fs::write(www.join("index.yaml"), body).map_err(|e| e.to_string())?;
        let port = free_port();
        let is_root = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
            .unwrap_or(false);
        let d = dir.display();
        let conf = format!(
            "{user}daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  default_type application/octet-stream;\n\
             \x20 client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n  }}\n}}\n",
            user = if is_root { "user root;\n" } else { "" },
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let process = Process::spawn(
            Command::new(nginx)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .map_err(|e| format!("starting {}: {e}", nginx.display()))?;
        let mut n = Nginx { process };
        let url = format!("http://127.0.0.1:{port}/index.yaml");
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 200
                && let Ok(b) = r.bytes().await
            {
                if b.as_ref() != body {
                    return Err("nginx serves different bytes".into());
                }
                return Ok((n, url));
            }
            if let Some(s) = n.process.try_wait() {
                let err = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited with {s}: {err}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nginx not serving after 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on SIGTERM; a SIGKILL (the process's own drop, if it is
        // still running after 5 s) would leave them behind.
        self.process.signal("TERM");
        self.process.wait_for(Duration::from_secs(5));
    }
}

/// `helm repo index <dir>` (a fresh `index.yaml`), timed around the subprocess.
pub fn helm_repo_index(helm: &Helm, dir: &Path) -> Res<Duration> {
    let _ = fs::remove_file(dir.join("index.yaml"));
    let dir = dir.to_str().ok_or("non-UTF-8 repository path")?;
    let mut cmd = helm.command(&["repo", "index", dir]);
    let started = Instant::now();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!("helm repo index failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(elapsed)
}

/// nproc, CPU model, RAM and kernel, for the report.
pub fn machine() -> Vec<(String, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
        .unwrap_or_else(|| "?".into());
    let cmd = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .ok()
            .map(|o| {
                let s = if o.stdout.is_empty() { o.stderr } else { o.stdout };
                String::from_utf8_lossy(&s).lines().next().unwrap_or("").trim().to_owned()
            })
            .unwrap_or_else(|| "?".into())
    };
    vec![
        ("nproc".into(), std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())),
        ("CPU".into(), cpu),
        ("RAM".into(), mem),
        ("kernel".into(), cmd("uname", &["-sr"])),
    ]
}
