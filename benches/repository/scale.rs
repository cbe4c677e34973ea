//! The scenarios of issue 16 (a million versions on one small machine): cold starts of minimal
//! charts against `helm repo index` of Helm 3.17 and 4.1, the 1,000,000-version repository
//! (`--million`), and the table of the targets, each met or not.

use std::fs;
use std::time::{Duration, Instant};

use chartroom_testkit::{Helm, HelmVersion};

use crate::charts::{self, Kind, base_files};
use crate::external::{self, Nginx, WrkResult, wrk_latencies};
use crate::measure::{self, Mem, Stats, check_exact, get_index, index_ready_ms, mib, ms, read_mem, secs_list, summary};
use crate::report::Figures;
use crate::scenarios::{Bench, start, stop};
use crate::tenancy::TenantStart;
use crate::{Res, log};

/// `helm repo index` with both Helm versions, and chartroom's cold start, on one set of charts.
pub struct ColdVsHelm {
    pub versions: usize,
    pub helm3: Vec<Duration>,
    pub helm4: Vec<Duration>,
    /// Empty when chartroom's cold start of this set is measured elsewhere (`Figures::cold`).
    pub chartroom: Vec<Duration>,
    pub ready: Option<String>,
    pub tgz_bytes: u64,
}

/// The 1,000,000-version repository of minimal charts.
pub struct Million {
    pub versions: usize,
    pub generated: Duration,
    pub linked: Duration,
    pub tgz_bytes: u64,
    pub cold: Duration,
    pub cold_ready: Option<String>,
    /// Right after the cold build: `hwm_kb` is the peak during the build (a new process).
    pub mem_cold: Mem,
    pub restarts: Vec<Duration>,
    pub restart_ready: Option<String>,
    pub body_len: usize,
    pub wrk_chartroom: Vec<WrkResult>,
    pub wrk_nginx: Vec<WrkResult>,
    pub mem_served: Mem,
    pub uploads: Stats,
    /// The same uploads into an empty repository.
    pub empty_uploads: Stats,
}

fn median(v: &[Duration]) -> Duration {
    measure::median(v)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

impl Bench {
    /// `helm repo index` of `n` charts of `kind` with Helm 3.17 and 4.1 (`restarts` times each),
    /// and chartroom's cold start on them unless `chartroom` is false.
    pub async fn cold_vs_helm(&self, kind: Kind<'_>, label: &str, chartroom: bool) -> Res<ColdVsHelm> {
        let n = self.opts.versions;
        charts::ensure(&self.opts, kind, n, Duration::from_secs(3600))?;
        let dir = self.work_dir().join(format!("helm-vs-{label}"));
        let tgz_bytes = charts::populate_with(&self.opts, kind, &dir, n)?;
        let helm3 = Helm::with_binary(HelmVersion::V3, self.opts.helm.clone());
        let helm4 = Helm::with_binary(HelmVersion::V4, self.opts.helm4.clone());
        let mut out = ColdVsHelm {
            versions: n,
            helm3: Vec::new(),
            helm4: Vec::new(),
            chartroom: Vec::new(),
            ready: None,
            tgz_bytes,
        };
        for _ in 0..self.opts.restarts {
            log(format!("helm repo index, {n} {label} charts, Helm 3 and 4"));
            if chartroom {
                out.helm3.push(external::helm_repo_index(&helm3, &dir)?);
            }
            out.helm4.push(external::helm_repo_index(&helm4, &dir)?);
        }
        let _ = fs::remove_file(dir.join("index.yaml"));
        if chartroom {
            log(format!("cold start, {n} {label} charts, no state"));
            let mut srv = start(&dir, Duration::from_secs(300)).await;
            for k in 0..self.opts.restarts {
                if k > 0 {
                    stop(&mut srv);
                    fs::remove_dir_all(dir.join(".chartroom")).map_err(|e| format!("deleting the state: {e}"))?;
                    srv.spawn_and_wait().await;
                }
                out.chartroom.push(srv.started_in());
                let (_, counts) = get_index(&self.http, &srv.repo_url()).await?;
                check_exact(&counts, base_files(n)).map_err(|e| format!("{label} cold start: {e}"))?;
            }
            out.ready = index_ready_ms(&srv.log());
            stop(&mut srv);
        }
        let _ = fs::remove_dir_all(&dir);
        Ok(out)
    }

    /// The `--million` scenario: cold start, restarts, serving against nginx, memory and uploads
    /// in a repository of `--million-versions` minimal charts.
    pub async fn million(&self) -> Res<Million> {
        let n = self.opts.million_versions;
        let generated = charts::ensure(&self.opts, Kind::Minimal, n, self.opts.deadline())?.unwrap_or_default();
        let root = self.work_dir().join("repo-million");
        log(format!("million: hard-linking {n} charts"));
        let t = Instant::now();
        let tgz_bytes = charts::populate_with(&self.opts, Kind::Minimal, &root, n)?;
        let linked = t.elapsed();
        log(format!("million: cold start with {n} charts"));
        let mut srv = start(&root, Duration::from_secs(1800)).await;
        let cold = srv.started_in();
        let cold_ready = index_ready_ms(&srv.log());
        let mem_cold = read_mem(srv.pid())?;
        log(format!("million: cold start {:.1} s, peak {}", cold.as_secs_f64(), mib(mem_cold.hwm_kb)));
        let (body, counts) = get_index(&self.http, &srv.repo_url()).await?;
        check_exact(&counts, base_files(n)).map_err(|e| format!("million cold start: {e}"))?;
        drop(counts);
        let mut restarts = Vec::new();
        for k in 0..self.opts.restarts {
            log(format!("million: restart {} with persisted state", k + 1));
            stop(&mut srv);
            srv.spawn_and_wait().await;
            restarts.push(srv.started_in());
        }
        let restart_ready = index_ready_ms(&srv.log());
        let (served, counts) = get_index(&self.http, &srv.repo_url()).await?;
        check_exact(&counts, base_files(n)).map_err(|e| format!("million restart: {e}"))?;
        drop(counts);
        if served != body {
            return Err("the restarted server serves other bytes than the cold-started one".into());
        }
        drop(served);
        let (ng, ng_url) =
            Nginx::start(&self.opts.nginx, &self.http, &self.work_dir().join("nginx-million"), &body).await?;
        let (mut wrk_chartroom, mut wrk_nginx) = (Vec::new(), Vec::new());
        for round in 0..3 {
            log(format!("million: wrk round {}: chartroom, nginx", round + 1));
            wrk_chartroom.push(external::run_wrk(&self.opts.wrk, self.opts.wrk_secs, &srv.url("/index.yaml"))?);
            wrk_nginx.push(external::run_wrk(&self.opts.wrk, self.opts.wrk_secs, &ng_url)?);
        }
        drop(ng);
        let mem_served = read_mem(srv.pid())?;
        let set = charts::upload_set_of(Kind::Minimal, 4, 100);
        log(format!("million: {} sequential uploads", set.len()));
        let uploads = measure::sequential_uploads(&self.http, &srv.repo_url(), &set).await?;
        stop(&mut srv);
        drop(srv);
        let _ = fs::remove_dir_all(&root);
        let empty_root = self.work_dir().join("repo-million-empty");
        fs::create_dir_all(&empty_root).map_err(|e| e.to_string())?;
        let mut empty = start(&empty_root, Duration::from_secs(60)).await;
        let empty_uploads = measure::sequential_uploads(&self.http, &empty.repo_url(), &set).await?;
        stop(&mut empty);
        let _ = fs::remove_dir_all(&empty_root);
        Ok(Million {
            versions: n,
            generated,
            linked,
            tgz_bytes,
            cold,
            cold_ready,
            mem_cold,
            restarts,
            restart_ready,
            body_len: body.len(),
            wrk_chartroom,
            wrk_nginx,
            mem_served,
            uploads,
            empty_uploads,
        })
    }
}

fn mean_rps(r: &[WrkResult]) -> f64 {
    r.iter().map(|w| w.rps).sum::<f64>() / r.len().max(1) as f64
}

fn verdict(ok: bool) -> String {
    if ok { "**met**".into() } else { "**NOT met**".into() }
}

/// The rows of the cold start comparisons (measurement, result, detail).
pub fn cold_rows(scaffold: &ColdVsHelm, minimal: &ColdVsHelm) -> Vec<[String; 3]> {
    let mut rows = vec![[
        format!(
            "`helm repo index`, {} `helm create` charts, Helm 4.1 (median of {})",
            scaffold.versions,
            scaffold.helm4.len()
        ),
        format!("{:.3} s", median(&scaffold.helm4).as_secs_f64()),
        format!("all: {} s", secs_list(&scaffold.helm4)),
    ]];
    for (helm, times) in [("3.17", &minimal.helm3), ("4.1", &minimal.helm4)] {
        rows.push([
            format!("`helm repo index`, {} minimal charts, Helm {helm} (median of {})", minimal.versions, times.len()),
            format!("{:.3} s", median(times).as_secs_f64()),
            format!("all: {} s; {:.1} MiB of .tgz", secs_list(times), minimal.tgz_bytes as f64 / 1048576.0),
        ]);
    }
    rows.push([
        format!("cold start, {} minimal charts, no state (median of {})", minimal.versions, minimal.chartroom.len()),
        format!("{:.3} s", median(&minimal.chartroom).as_secs_f64()),
        format!(
            "all: {} s; last run's index ready: {}",
            secs_list(&minimal.chartroom),
            minimal.ready.clone().unwrap_or_default()
        ),
    ]);
    rows
}

/// The rows of the `--million` run.
pub fn million_rows(m: &Million) -> Vec<[String; 3]> {
    let n = m.versions;
    let body = m.body_len as f64;
    let [v50, v90, v99, vmax] = summary(&m.uploads.visible);
    let [e50, _, _, _] = summary(&m.empty_uploads.visible);
    let mut rows = vec![
        [
            format!("minimal charts 0..{n} (cache), hard links"),
            if m.generated.is_zero() {
                "cached".into()
            } else {
                format!("generated in {:.1} s", m.generated.as_secs_f64())
            },
            format!("linking {:.1} s; {:.0} MiB of .tgz", m.linked.as_secs_f64(), m.tgz_bytes as f64 / 1048576.0),
        ],
        [
            format!("cold start, {n} versions, no state"),
            format!("{:.3} s", m.cold.as_secs_f64()),
            format!(
                "index ready: {}; peak during the build (VmHWM) {} = {:.2}x the index body; RSS after {}",
                m.cold_ready.clone().unwrap_or_default(),
                mib(m.mem_cold.hwm_kb),
                m.mem_cold.hwm_kb as f64 * 1024.0 / body,
                mib(m.mem_cold.rss_kb)
            ),
        ],
        [
            format!("restart with persisted state, {n} versions (median of {})", m.restarts.len()),
            format!("{:.3} s", median(&m.restarts).as_secs_f64()),
            format!("all: {} s; index ready: {}", secs_list(&m.restarts), m.restart_ready.clone().unwrap_or_default()),
        ],
        [format!("index body, {n} versions"), format!("{} bytes", m.body_len), format!("{:.1} MiB", body / 1048576.0)],
    ];
    for (i, (c, g)) in m.wrk_chartroom.iter().zip(&m.wrk_nginx).enumerate() {
        rows.push([
            format!("GET /index.yaml, {n} versions, round {} (wrk -t2 -c64 --latency): chartroom / nginx", i + 1),
            format!("{:.2} / {:.2} req/s", c.rps, g.rps),
            format!(
                "chartroom {}; nginx {}; non-2xx {} / {}",
                wrk_latencies(c),
                wrk_latencies(g),
                c.non_2xx,
                g.non_2xx
            ),
        ]);
    }
    rows.push([
        format!("server RSS, {n} versions, after restart + serving"),
        mib(m.mem_served.rss_kb),
        format!(
            "{:.2}x the index body; peak (VmHWM) {}",
            m.mem_served.rss_kb as f64 * 1024.0 / body,
            mib(m.mem_served.hwm_kb)
        ),
    ]);
    rows.push([
        format!("upload -> visible, {n}-version repo ({} sequential minimal charts)", m.uploads.visible.len()),
        format!("p50 {} ms", ms(v50)),
        format!(
            "p90 {} / p99 {} / max {} ms; same uploads into an empty repo: p50 {} ms",
            ms(v90),
            ms(v99),
            ms(vmax),
            ms(e50)
        ),
    ]);
    rows
}

/// The ten targets of issue 16, each with what this run measured (or why it did not).
pub fn targets(
    sizes: (usize, usize),
    f: Option<&Figures>,
    cold: Option<(&ColdVsHelm, &ColdVsHelm)>,
    m: Option<&Million>,
    tenants: &[TenantStart],
) -> Vec<[String; 4]> {
    let elsewhere = |what: &str| [String::new(), "not measured in this run".to_owned(), String::new(), what.to_owned()];
    let mut t: Vec<[String; 4]> = Vec::new();
    // The default run's sizes (`--versions`, `--big-versions`): a note when they are not the
    // issue's 10,000 and 100,000.
    let (n, nb) = sizes;
    let at =
        |size: usize, want: usize| if size == want { String::new() } else { format!("measured at {size} versions") };
    let mut push = |target: &str, row: [String; 4]| {
        let [_, measured, verdict, note] = row;
        t.push([target.to_owned(), measured, verdict, note]);
    };
    // 1. RSS at 100,000 versions after serving.
    let t1 = "resident memory, 100,000 versions, after serving: <= 2x the index body";
    match f.and_then(|f| f.large.targets.as_ref()) {
        Some((_, mem, len)) => {
            let r = mem.rss_kb as f64 * 1024.0 / *len as f64;
            push(
                t1,
                [
                    String::new(),
                    format!("{r:.2}x ({} vs {:.1} MiB)", mib(mem.rss_kb), *len as f64 / 1048576.0),
                    verdict(r <= 2.0),
                    at(nb, 100_000),
                ],
            );
        }
        None => push(t1, elsewhere("the default run (`--big-versions 100000`)")),
    }
    // 2. RSS at 1,000,000.
    let t2 = "resident memory, 1,000,000 versions: <= 2x the index body";
    match m {
        Some(m) => {
            let r = m.mem_served.rss_kb as f64 * 1024.0 / m.body_len as f64;
            push(
                t2,
                [
                    String::new(),
                    format!("{r:.2}x ({} vs {:.1} MiB)", mib(m.mem_served.rss_kb), m.body_len as f64 / 1048576.0),
                    verdict(r <= 2.0),
                    format!("{} versions", m.versions),
                ],
            );
        }
        None => push(t2, elsewhere("`scripts/bench.sh --million`")),
    }
    // 3. Restart at 100,000.
    let t3 = "restart with persisted state, 100,000 versions: <= 0.3 s";
    match f.and_then(|f| f.large.targets.as_ref()) {
        Some((med, _, _)) => push(
            t3,
            [
                String::new(),
                format!("{:.3} s", med.as_secs_f64()),
                verdict(*med <= Duration::from_millis(300)),
                at(nb, 100_000),
            ],
        ),
        None => push(t3, elsewhere("the default run (`--big-versions 100000`)")),
    }
    // 4. Restart at 1,000,000.
    let t4 = "restart with persisted state, 1,000,000 versions: <= 2 s";
    match m {
        Some(m) => {
            let med = median(&m.restarts);
            push(
                t4,
                [
                    String::new(),
                    format!("{:.3} s", med.as_secs_f64()),
                    verdict(med <= Duration::from_secs(2)),
                    String::new(),
                ],
            );
        }
        None => push(t4, elsewhere("`scripts/bench.sh --million`")),
    }
    // 5. Cold start vs helm repo index, both kinds of chart, both Helm versions.
    let t5 = "cold start, no state, 10,000 charts: <= 0.2x `helm repo index` (Helm 4.1 and 3.17, `helm create` and minimal charts)";
    match (f, cold) {
        (Some(f), Some((scaffold, minimal))) => {
            let ours_scaffold = f.cold.median;
            let ours_minimal = median(&minimal.chartroom);
            let ratios = [
                ("helm create, 3.17", ratio(ours_scaffold, f.helm_index.median)),
                ("helm create, 4.1", ratio(ours_scaffold, median(&scaffold.helm4))),
                ("minimal, 3.17", ratio(ours_minimal, median(&minimal.helm3))),
                ("minimal, 4.1", ratio(ours_minimal, median(&minimal.helm4))),
            ];
            let text = ratios.iter().map(|(k, r)| format!("{k}: {r:.3}x")).collect::<Vec<_>>().join("; ");
            push(
                t5,
                [
                    String::new(),
                    text,
                    verdict(ratios.iter().all(|(_, r)| *r <= 0.2)),
                    format!("at {} versions", minimal.versions),
                ],
            );
        }
        _ => push(t5, elsewhere("the default run")),
    }
    // 6. Cold start at 1,000,000.
    let t6 = "cold start, 1,000,000 versions: <= 60 s, memory during the build <= 3x the index body";
    match m {
        Some(m) => {
            let r = m.mem_cold.hwm_kb as f64 * 1024.0 / m.body_len as f64;
            push(
                t6,
                [
                    String::new(),
                    format!("{:.1} s; peak {r:.2}x ({})", m.cold.as_secs_f64(), mib(m.mem_cold.hwm_kb)),
                    verdict(m.cold <= Duration::from_secs(60) && r <= 3.0),
                    String::new(),
                ],
            );
        }
        None => push(t6, elsewhere("`scripts/bench.sh --million`")),
    }
    // 7. Upload -> visible at 1,000,000.
    let t7 = "upload -> visible p50, 1,000,000 versions: <= 5 ms and <= 2x the empty repository";
    match m {
        Some(m) => {
            let (p50, e50) = (summary(&m.uploads.visible)[0], summary(&m.empty_uploads.visible)[0]);
            let r = ratio(p50, e50);
            push(
                t7,
                [
                    String::new(),
                    format!("p50 {} ms, {r:.2}x the empty repository ({} ms)", ms(p50), ms(e50)),
                    verdict(p50 <= Duration::from_millis(5) && r <= 2.0),
                    String::new(),
                ],
            );
        }
        None => push(t7, elsewhere("`scripts/bench.sh --million`")),
    }
    // 8. GET /index.yaml at 10,000.
    let t8 = "`GET /index.yaml`, 10,000 versions, wrk -c64: >= 1.5x nginx req/s and p99 <= nginx p99";
    match f {
        Some(f) => {
            let (c, g) = (&f.serving.chartroom, &f.serving.nginx);
            let r = c.rps / g.rps;
            push(
                t8,
                [
                    String::new(),
                    format!("{r:.2}x; p99 {} vs {} ms (max {} vs {} ms)", ms(c.p99), ms(g.p99), ms(c.max), ms(g.max)),
                    verdict(r >= 1.5 && c.p99 <= g.p99),
                    format!("one wrk run each (three-run figures in BENCHMARKS.md) {}", at(n, 10_000)),
                ],
            );
        }
        None => push(t8, elsewhere("the default run")),
    }
    // 9. GET /index.yaml at 1,000,000.
    let t9 = "`GET /index.yaml`, 1,000,000 versions: >= 1.0x nginx req/s on the same bytes";
    match m {
        Some(m) => {
            let r = mean_rps(&m.wrk_chartroom) / mean_rps(&m.wrk_nginx);
            push(
                t9,
                [
                    String::new(),
                    format!(
                        "{r:.2}x ({:.2} vs {:.2} req/s, mean of {} rounds)",
                        mean_rps(&m.wrk_chartroom),
                        mean_rps(&m.wrk_nginx),
                        m.wrk_nginx.len()
                    ),
                    verdict(r >= 1.0),
                    String::new(),
                ],
            );
        }
        None => push(t9, elsewhere("`scripts/bench.sh --million`")),
    }
    // 10. 10,000 tenants x 10 versions.
    let t10 = "10,000 tenants x 10 versions: start <= 2 s, memory <= 2x the sum of the tenants' index bodies";
    match tenants.iter().find(|t| t.tenants >= 10_000) {
        Some(t) => {
            let start = median(&t.restarts);
            let r = t.mem_restarted.rss_kb as f64 * 1024.0 / t.bodies.max(1) as f64;
            push(
                t10,
                [
                    String::new(),
                    format!(
                        "restart {:.3} s (cold {:.3} s); RSS {r:.2}x ({} vs {:.1} MiB)",
                        start.as_secs_f64(),
                        t.cold.as_secs_f64(),
                        mib(t.mem_restarted.rss_kb),
                        t.bodies as f64 / 1048576.0
                    ),
                    verdict(start <= Duration::from_secs(2) && r <= 2.0),
                    "start = restart with persisted state".into(),
                ],
            );
        }
        None => push(t10, elsewhere("`scripts/bench.sh --million`")),
    }
    t
}

/// Writes the targets table (used by both reports).
pub fn write_targets(w: &mut String, targets: &[[String; 4]]) {
    use std::fmt::Write as _;
    let _ = writeln!(w, "\n| target (issue 16) | measured | verdict | note |\n|---|---|---|---|");
    for [a, b, c, d] in targets {
        let _ = writeln!(w, "| {a} | {b} | {c} | {d} |");
    }
}
