//! What the scenarios measure with: timed uploads, index checks, percentiles, a process's memory.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::time::{Duration, Instant};

use crate::Res;
use crate::charts::Upload;

// ------------------------------------------------------------------------------------------------
// Index inspection

/// Counts each archive file named in the index's `urls` (`- charts/<name>-<version>.tgz`).
pub fn url_counts(body: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in body.lines() {
        let t = line.trim();
        if let Some(item) = t.strip_prefix("- ")
            && item.ends_with(".tgz")
        {
            let file = item.trim_matches('"').rsplit('/').next().unwrap_or(item).to_owned();
            *counts.entry(file).or_insert(0) += 1;
        }
    }
    counts
}

pub async fn get_index(http: &reqwest::Client, base: &str) -> Res<(Vec<u8>, HashMap<String, usize>)> {
    let r = http.get(format!("{base}/index.yaml")).send().await.map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("GET /index.yaml: {}", r.status()));
    }
    let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
    let counts = url_counts(&String::from_utf8_lossy(&body));
    Ok((body, counts))
}

/// Checks that the `expected` archives are all listed exactly once and nothing else is listed.
pub fn check_exact(counts: &HashMap<String, usize>, expected: impl Iterator<Item = String>) -> Res<usize> {
    let mut want = 0;
    for file in expected {
        want += 1;
        match counts.get(&file) {
            Some(1) => {}
            Some(c) => return Err(format!("{file} listed {c} times")),
            None => return Err(format!("{file} missing from the index")),
        }
    }
    if counts.len() != want {
        return Err(format!("index lists {} archives, expected {want}", counts.len()));
    }
    Ok(want)
}

/// The last "index ready" line of a server log: its `elapsed_ms`, `opened` and `reused`.
pub fn index_ready_ms(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("index ready"))?;
    let field = |k: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}=")).map(|v| v.trim_matches('"').to_owned()))
    };
    Some(format!(
        "{} ms (opened={}, reused={})",
        field("elapsed_ms").unwrap_or_else(|| "?".into()),
        field("opened").unwrap_or_else(|| "?".into()),
        field("reused").unwrap_or_else(|| "?".into())
    ))
}

// ------------------------------------------------------------------------------------------------
// Memory

#[derive(Clone, Copy)]
pub struct Mem {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

/// `VmRSS` and `VmHWM` of process `pid`.
pub fn read_mem(pid: u32) -> Res<Mem> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let get = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Mem { rss_kb: get("VmRSS:"), hwm_kb: get("VmHWM:") })
}

pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

// ------------------------------------------------------------------------------------------------
// Statistics

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

pub fn secs_list(v: &[Duration]) -> String {
    v.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// p50, p90, p99, max.
pub fn summary(v: &[Duration]) -> [Duration; 4] {
    let mut s = v.to_vec();
    s.sort();
    [pct(&s, 50.0), pct(&s, 90.0), pct(&s, 99.0), s.last().copied().unwrap_or_default()]
}

// ------------------------------------------------------------------------------------------------
// Uploads

/// Per-upload times of a sequential run.
#[derive(Default)]
pub struct Stats {
    /// The POST alone, until the 201 body is read.
    pub post: Vec<Duration>,
    /// POST plus GETs of the version until one answers 200.
    pub visible: Vec<Duration>,
    /// GETs that did not answer 200 (always 0: the 201 follows the index update).
    pub extra_gets: usize,
}

pub async fn sequential_uploads(http: &reqwest::Client, base: &str, set: &[Upload]) -> Res<Stats> {
    let mut st = Stats::default();
    for (name, version, tgz) in set {
        let t0 = Instant::now();
        let r = http
            .post(format!("{base}/api/charts"))
            .header("content-type", "application/octet-stream")
            .body(tgz.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        let post = t0.elapsed();
        if status != 201 {
            return Err(format!("upload {name} {version}: {status} {}", String::from_utf8_lossy(&body)));
        }
        loop {
            let r = http.get(format!("{base}/api/charts/{name}/{version}")).send().await.map_err(|e| e.to_string())?;
            let ok = r.status() == 200;
            let _ = r.bytes().await;
            if ok {
                break;
            }
            st.extra_gets += 1;
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("{name} {version} not visible 10 s after upload"));
            }
        }
        st.visible.push(t0.elapsed());
        st.post.push(post);
    }
    Ok(st)
}

/// Outcome of a concurrent run.
pub struct Conc {
    pub elapsed: Duration,
    pub ok: usize,
    pub non_201: BTreeMap<u16, usize>,
    pub errors: usize,
}

pub async fn concurrent_uploads(http: &reqwest::Client, base: &str, set: &[Upload], clients: usize) -> Conc {
    let per = set.len().div_ceil(clients);
    let started = Instant::now();
    let tasks = set.chunks(per.max(1)).map(|chunk| async move {
        let mut out: Vec<Result<u16, String>> = Vec::with_capacity(chunk.len());
        for (_, _, tgz) in chunk {
            let r = http
                .post(format!("{base}/api/charts"))
                .header("content-type", "application/octet-stream")
                .body(tgz.clone())
                .send()
                .await;
            out.push(match r {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(s)
                }
                Err(e) => Err(e.to_string()),
            });
        }
        out
    });
    let results = futures::future::join_all(tasks).await;
    let elapsed = started.elapsed();
    let mut c = Conc { elapsed, ok: 0, non_201: BTreeMap::new(), errors: 0 };
    for r in results.into_iter().flatten() {
        match r {
            Ok(201) => c.ok += 1,
            Ok(s) => *c.non_201.entry(s).or_insert(0) += 1,
            Err(_) => c.errors += 1,
        }
    }
    c
}
