//! Samples of every server's memory and descriptors, and the checks at the end: flat memory and
//! descriptors, storage and index in agreement (provenance files included).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chartroom_testkit::{Index, load_client, sha256_hex};

use crate::{Opts, Site};

/// One server's samples: (seconds since the start, RSS in KiB, open descriptors).
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, u64, usize)>,
}

pub fn pids(sites: &[Site]) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for site in sites {
        for (i, server) in site.servers.iter().enumerate() {
            out.push((format!("{} server {i}", site.name), server.pid()));
        }
    }
    out
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Samples every `every` until `deadline` (the first right away).
pub async fn sample(pids: Vec<(String, u32)>, every: Duration, deadline: Instant) -> Vec<Series> {
    let start = Instant::now();
    let mut series: Vec<Series> = pids.iter().map(|(l, _)| Series { label: l.clone(), points: Vec::new() }).collect();
    let mut tick = tokio::time::interval(every);
    while Instant::now() < deadline {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        for ((_, pid), s) in pids.iter().zip(&mut series) {
            // A server that died has no /proc entry: its series stops, and the check says so.
            if let (Some(rss), Some(fds)) = (rss_kib(*pid), fds(*pid)) {
                s.points.push((t, rss, fds));
            }
        }
    }
    series
}

pub struct Flat {
    label: String,
    samples: usize,
    rss: Option<(f64, f64)>,
    fds: Option<(f64, f64)>,
    peak_rss: u64,
    peak_fds: usize,
    problems: Vec<String>,
}

fn avg(points: &[(f64, u64, usize)], f: impl Fn(&(f64, u64, usize)) -> f64) -> f64 {
    points.iter().map(f).sum::<f64>() / points.len().max(1) as f64
}

/// The flatness check of every series (see the crate documentation for the rule).
pub fn flatness(series: &[Series], opts: &Opts) -> Vec<Flat> {
    let expected = (opts.minutes * 60.0 / opts.sample_secs as f64).floor() as usize;
    series
        .iter()
        .map(|s| {
            let mut problems = Vec::new();
            if s.points.len() + 1 < expected {
                problems.push(format!("only {} of about {expected} samples: did the server exit?", s.points.len()));
            }
            let warm = (s.points.len() / 10).max(2);
            let rest = s.points.get(warm..).unwrap_or_default();
            let q = rest.len() / 4;
            let (mut rss, mut fd) = (None, None);
            if q >= 1 {
                let (first, last) = (&rest[..q], &rest[rest.len() - q..]);
                let (r0, r1) = (avg(first, |p| p.1 as f64), avg(last, |p| p.1 as f64));
                let (f0, f1) = (avg(first, |p| p.2 as f64), avg(last, |p| p.2 as f64));
                let allowed = r0 * (1.0 + opts.rss_tolerance) + (opts.rss_slack_mb * 1024) as f64;
                if r1 > allowed {
                    problems.push(format!("RSS grew from {:.1} to {:.1} MiB", r0 / 1024.0, r1 / 1024.0));
                }
                if f1 > f0 + opts.fd_slack {
                    problems.push(format!("open descriptors grew from {f0:.1} to {f1:.1}"));
                }
                rss = Some((r0, r1));
                fd = Some((f0, f1));
            } else {
                problems.push(format!("too few samples after the warm-up ({}) to compare quarters", rest.len()));
            }
            Flat {
                label: s.label.clone(),
                samples: s.points.len(),
                rss,
                fds: fd,
                peak_rss: s.points.iter().map(|p| p.1).max().unwrap_or(0),
                peak_fds: s.points.iter().map(|p| p.2).max().unwrap_or(0),
                problems,
            }
        })
        .collect()
}

pub fn report_samples(series: &[Series], flat: &[Flat]) -> bool {
    println!("\n### Memory and descriptors\n");
    println!(
        "| server | samples | RSS first quarter → last quarter (MiB) | peak RSS (MiB) | fds first → last quarter | peak fds | verdict |"
    );
    println!("|---|---:|---|---:|---|---:|---|");
    let mut ok = true;
    for f in flat {
        let rss = f.rss.map_or("-".to_owned(), |(a, b)| format!("{:.1} → {:.1}", a / 1024.0, b / 1024.0));
        let fds = f.fds.map_or("-".to_owned(), |(a, b)| format!("{a:.1} → {b:.1}"));
        let verdict = if f.problems.is_empty() { "flat".to_owned() } else { f.problems.join("; ") };
        ok &= f.problems.is_empty();
        println!(
            "| {} | {} | {rss} | {:.1} | {fds} | {} | {verdict} |",
            f.label,
            f.samples,
            f.peak_rss as f64 / 1024.0,
            f.peak_fds
        );
    }
    println!("\n<details><summary>samples (seconds, RSS MiB, fds)</summary>\n");
    for s in series {
        let points: Vec<String> =
            s.points.iter().map(|(t, r, f)| format!("{t:.0}:{:.1}/{f}", *r as f64 / 1024.0)).collect();
        println!("- {}: {}", s.label, points.join(" "));
    }
    println!("\n</details>");
    ok
}

/// What one server serves against what its storage holds.
pub struct Agreement {
    label: String,
    versions: usize,
    archives: usize,
    /// Provenance files in storage (each checked against its archive).
    provs: usize,
    problems: Vec<String>,
}

/// Compares every server's index with its storage, retrying for 30 s (replicas converge
/// through the change log and the 10 s resync).
pub async fn agreement(sites: &[Site]) -> Vec<Agreement> {
    let http = load_client();
    let mut out = Vec::new();
    for site in sites {
        for (i, server) in site.servers.iter().enumerate() {
            let label = format!("{} server {i}", site.name);
            let started = Instant::now();
            loop {
                let index = match http.get(format!("{}/index.yaml", server.repo_url())).send().await {
                    Ok(r) => r.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let storage = server.storage_snapshot();
                let a = match index {
                    Ok(bytes) => compare(&label, &bytes, &storage),
                    Err(e) => Agreement { label: label.clone(), versions: 0, archives: 0, provs: 0, problems: vec![e] },
                };
                if a.problems.is_empty() || started.elapsed() > Duration::from_secs(30) {
                    out.push(a);
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    out
}

fn compare(label: &str, index: &[u8], storage: &BTreeMap<String, Vec<u8>>) -> Agreement {
    let mut problems = Vec::new();
    let parsed = std::panic::catch_unwind(|| Index::parse(index));
    let Ok(parsed) = parsed else {
        let head = String::from_utf8_lossy(&index[..index.len().min(300)]).into_owned();
        return Agreement {
            label: label.to_owned(),
            versions: 0,
            archives: 0,
            provs: 0,
            problems: vec![format!("unreadable index: {head}")],
        };
    };
    let archives: BTreeMap<&str, &Vec<u8>> = storage
        .iter()
        .filter(|(k, _)| k.ends_with(".tgz") && !k.contains('/') && !k.starts_with('.'))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    let mut versions = 0;
    for (name, entries) in &parsed.entries {
        for e in entries {
            versions += 1;
            let Some(file) = e.urls.first().map(|u| u.rsplit('/').next().unwrap_or(u).to_owned()) else {
                problems.push(format!("{name} {}: no URL", e.version()));
                continue;
            };
            *listed.entry(file.clone()).or_default() += 1;
            match archives.get(file.as_str()) {
                None => problems.push(format!("{name} {}: {file} is listed but not in storage", e.version())),
                Some(bytes) if sha256_hex(bytes) != e.digest() => problems.push(format!(
                    "{name} {}: {file} has digest {} in storage, {} in the index",
                    e.version(),
                    sha256_hex(bytes),
                    e.digest()
                )),
                Some(_) => {}
            }
        }
    }
    for file in archives.keys() {
        match listed.get(*file) {
            None => problems.push(format!("{file} is in storage but not listed")),
            Some(1) => {}
            Some(n) => problems.push(format!("{file} is listed {n} times")),
        }
    }
    // Every provenance file sits beside its archive and vouches for the stored bytes (the soak's
    // provenance files list the archive's digest), or `helm pull --verify` fails on it.
    let mut provs = 0;
    for (key, bytes) in storage {
        let Some(archive) = key.strip_suffix(".prov").filter(|a| a.ends_with(".tgz") && !a.contains('/')) else {
            continue;
        };
        provs += 1;
        match archives.get(archive) {
            None => problems.push(format!("{key} is in storage without its archive")),
            Some(tgz) if !String::from_utf8_lossy(bytes).contains(&format!("sha256:{}", sha256_hex(tgz))) => {
                problems.push(format!("{key} does not vouch for the stored {archive}"))
            }
            Some(_) => {}
        }
    }
    Agreement { label: label.to_owned(), versions, archives: archives.len(), provs, problems }
}

pub fn report_agreement(agreement: &[Agreement]) -> bool {
    println!("\n### Storage and index at the end\n");
    println!(
        "| server | versions listed | archives in storage | provenance files | verdict |\n|---|---:|---:|---:|---|"
    );
    let mut ok = true;
    for a in agreement {
        ok &= a.problems.is_empty();
        let verdict = if a.problems.is_empty() {
            "agree".to_owned()
        } else {
            let mut shown: Vec<String> = a.problems.iter().take(5).cloned().collect();
            if a.problems.len() > 5 {
                shown.push(format!("and {} more", a.problems.len() - 5));
            }
            shown.join("; ")
        };
        println!("| {} | {} | {} | {} | {verdict} |", a.label, a.versions, a.archives, a.provs);
    }
    ok
}
