//! The measured scenarios, in the order `main.rs` runs them; each returns its figures for the
//! report. Numbers refer to the list in `BENCHMARKS.md`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chartroom_testkit::{Helm, HelmVersion, Launch, Server, StorageTarget, load_client};

use crate::charts::{self, Upload, base_files, tgz_name};
use crate::external::{self, Nginx, WrkResult};
use crate::measure::{
    self, Conc, Mem, Stats, check_exact, get_index, index_ready_ms, mib, ms, read_mem, secs_list, summary,
};
use crate::{Opts, Res, log};

/// What every scenario shares: options, the client, the scratch folder, the charts.
pub struct Bench {
    pub opts: Opts,
    pub http: reqwest::Client,
    helm: Helm,
    work: PathBuf,
    pub scaffold: Vec<(String, String)>,
    /// One generated chart, for its size.
    pub sample: Vec<u8>,
    /// Time spent generating the main repository's charts (zero when cached).
    pub gen_main: Duration,
    pub seq_set: Vec<Upload>,
    pub conc_set: Vec<Upload>,
}

/// 3a: `helm repo index` of the main repository's charts.
pub struct HelmIndex {
    pub times: Vec<Duration>,
    pub median: Duration,
    /// Entries in Helm's `index.yaml`.
    pub count: usize,
    /// Bytes of `.tgz` in the repository.
    pub repo_bytes: u64,
}

/// 3b: cold starts without state.
pub struct Cold {
    pub times: Vec<Duration>,
    pub median: Duration,
    pub ready: Option<String>,
    pub index_body: Vec<u8>,
}

/// 2: `GET /index.yaml` under wrk, against chartroom and nginx.
pub struct Serving {
    pub mem_before_wrk: Mem,
    pub chartroom: WrkResult,
    pub mem_after_wrk: Mem,
    pub nginx: WrkResult,
    pub gz_encoding: String,
    pub gz_len: usize,
}

/// 4a: restarts with persisted state.
pub struct Restarts {
    pub times: Vec<Duration>,
    pub median: Duration,
    pub stop_times: Vec<Duration>,
    pub ready: Option<String>,
    pub mem_restarted: Mem,
}

/// 6: concurrent uploads, and the final check of the main repository.
pub struct Concurrent {
    pub conc: Conc,
    pub final_body_len: usize,
    pub final_count: usize,
    pub exact: Res<usize>,
    pub listed_once: usize,
    pub mem_end: Mem,
}

/// 4b/5b: the large repository: its rows, and for the targets (restart median, memory, index
/// length) or why it was skipped.
pub struct Large {
    pub rows: Vec<[String; 3]>,
    pub targets: Option<(Duration, Mem, usize)>,
    pub skipped: Option<String>,
}

/// SIGTERM and the time until the process is gone.
pub(crate) fn stop(srv: &mut Server) -> Duration {
    let started = Instant::now();
    let status = srv.stop();
    let took = started.elapsed();
    if !status.success() {
        log(format!("server exited with {status} after SIGTERM"));
    }
    took
}

/// `chartroom serve` on `root` with periodic resync off (it must not land inside a measurement),
/// its start timed from spawn to the first `/health` 200 (polled every 2 ms).
pub(crate) async fn start(root: &Path, ready_within: Duration) -> Server {
    let mut launch = Launch::new(StorageTarget::LocalDir(root.to_owned())).args(&["--cache-interval", "0"]);
    launch.ready_within = ready_within;
    launch.poll_every = Duration::from_millis(2);
    launch.stop_within = Duration::from_secs(60);
    Server::launch(launch).await
}

impl Bench {
    pub fn prepare(opts: Opts) -> Res<Bench> {
        let helm = Helm::with_binary(HelmVersion::V3, opts.helm.clone());
        let scaffold = charts::scaffold(&opts, &helm)?;
        let sample = charts::make_tgz(&scaffold, "bench-chart-0000", "1.0.0");
        let needed = opts.versions.max(opts.auth_versions).max(opts.tenant_versions);
        let gen_main = charts::ensure_charts(&opts, &scaffold, needed, Duration::from_secs(3600))?.unwrap_or_default();
        let work = opts.data_dir.join("run");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let http = load_client();
        let seq_set = charts::upload_set(&scaffold, 2, opts.seq_uploads);
        let conc_set = charts::upload_set(&scaffold, 3, opts.conc_uploads);
        Ok(Bench { opts, http, helm, work, scaffold, sample, gen_main, seq_set, conc_set })
    }

    /// The scratch folder of this run.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    pub fn clean_up(&self) {
        let _ = fs::remove_dir_all(&self.work);
    }

    /// 1a. Upload latency into an empty repository.
    pub async fn empty_repo_uploads(&self) -> Res<Stats> {
        log("uploads into an empty repository");
        let root = self.work.join("repo-empty");
        fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        let mut srv = start(&root, Duration::from_secs(60)).await;
        let empty = measure::sequential_uploads(&self.http, &srv.repo_url(), &self.seq_set).await?;
        stop(&mut srv);
        Ok(empty)
    }

    /// 3a. `helm repo index` on a copy of the charts (server not running).
    pub fn helm_repo_index(&self) -> Res<HelmIndex> {
        let n = self.opts.versions;
        log(format!("helm repo index on {n} charts"));
        let dir = self.work.join("helm-repo");
        let repo_bytes = charts::populate(&self.opts, &dir, n)?;
        let mut times = Vec::new();
        for _ in 0..self.opts.restarts {
            times.push(external::helm_repo_index(&self.helm, &dir)?);
        }
        let median = measure::median(&times);
        let count = fs::read_to_string(dir.join("index.yaml")).map(|s| measure::url_counts(&s).len()).unwrap_or(0);
        let _ = fs::remove_dir_all(&dir);
        log(format!("helm repo index: {} s, {count} entries", secs_list(&times)));
        Ok(HelmIndex { times, median, count, repo_bytes })
    }

    fn main_root(&self) -> PathBuf {
        self.work.join("repo")
    }

    /// 3b. Cold starts from the charts with no state (stop, delete the state, start); the last
    /// server keeps running for the next scenarios.
    pub async fn cold_starts(&self) -> Res<(Server, Cold)> {
        let n = self.opts.versions;
        let root = self.main_root();
        charts::populate(&self.opts, &root, n)?;
        log(format!("cold start with {n} charts, no state"));
        let mut srv = start(&root, Duration::from_secs(300)).await;
        let mut times = vec![srv.started_in()];
        let (mut index_body, mut counts) = get_index(&self.http, &srv.repo_url()).await?;
        check_exact(&counts, base_files(n)).map_err(|e| format!("after cold start: {e}"))?;
        for _ in 1..self.opts.restarts {
            stop(&mut srv);
            fs::remove_dir_all(root.join(".chartroom")).map_err(|e| format!("deleting the state: {e}"))?;
            srv.spawn_and_wait().await;
            times.push(srv.started_in());
            (index_body, counts) = get_index(&self.http, &srv.repo_url()).await?;
            check_exact(&counts, base_files(n)).map_err(|e| format!("after cold start: {e}"))?;
        }
        let median = measure::median(&times);
        let ready = index_ready_ms(&srv.log());
        log(format!("cold start {} s; index {} bytes lists {n}", secs_list(&times), index_body.len()));
        Ok((srv, Cold { times, median, ready, index_body }))
    }

    /// (2) `GET /index.yaml` throughput against chartroom and against nginx serving the same bytes.
    pub async fn serving(&self, srv: &Server, index_body: &[u8]) -> Res<Serving> {
        let mem_before_wrk = read_mem(srv.pid())?;
        log("wrk against chartroom");
        let chartroom = external::run_wrk(&self.opts.wrk, self.opts.wrk_secs, &srv.url("/index.yaml"))?;
        let mem_after_wrk = read_mem(srv.pid())?;
        log("wrk against nginx");
        let nginx = {
            let (ng, url) = Nginx::start(&self.opts.nginx, &self.http, &self.work.join("nginx"), index_body).await?;
            let r = external::run_wrk(&self.opts.wrk, self.opts.wrk_secs, &url);
            drop(ng);
            r?
        };
        let gz = self
            .http
            .get(srv.url("/index.yaml"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let gz_encoding =
            gz.headers().get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
        let gz_len = gz.bytes().await.map_err(|e| e.to_string())?.len();
        Ok(Serving { mem_before_wrk, chartroom, mem_after_wrk, nginx, gz_encoding, gz_len })
    }

    /// 4a. Restarts with persisted state (SIGTERM writes it; the state file must exist).
    pub async fn restarts(&self, srv: &mut Server) -> Res<Restarts> {
        let n = self.opts.versions;
        let mut times = Vec::new();
        let mut stop_times = Vec::new();
        let mut ready = None;
        for k in 0..self.opts.restarts {
            log(format!("restart {} with persisted state", k + 1));
            stop_times.push(stop(srv));
            let state = srv.storage_dir().join(".chartroom").join("index-state.bin");
            let state_len =
                fs::metadata(state).map(|m| m.len()).map_err(|e| format!("no state file after SIGTERM: {e}"))?;
            srv.spawn_and_wait().await;
            ready = index_ready_ms(&srv.log()).map(|r| format!("{r}; state file {state_len} bytes"));
            times.push(srv.started_in());
            let (_, c) = get_index(&self.http, &srv.repo_url()).await?;
            check_exact(&c, base_files(n)).map_err(|e| format!("after restart: {e}"))?;
        }
        let mut sorted = times.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        let mem_restarted = read_mem(srv.pid())?;
        Ok(Restarts { times, median, stop_times, ready, mem_restarted })
    }

    /// 1b. Upload latency into the full repository.
    pub async fn full_repo_uploads(&self, srv: &Server) -> Res<Stats> {
        log(format!("{} sequential uploads into {}", self.opts.seq_uploads, self.opts.versions));
        measure::sequential_uploads(&self.http, &srv.repo_url(), &self.seq_set).await
    }

    /// (6) Concurrent uploads, then the final index must list every chart exactly once; then the
    /// main repository's server stops and its folder goes.
    pub async fn concurrent_uploads(&self, mut srv: Server) -> Res<Concurrent> {
        log(format!("{} concurrent uploads by {} clients", self.opts.conc_uploads, self.opts.conc_clients));
        let conc =
            measure::concurrent_uploads(&self.http, &srv.repo_url(), &self.conc_set, self.opts.conc_clients).await;
        let (final_body, final_counts) = get_index(&self.http, &srv.repo_url()).await?;
        let expected = base_files(self.opts.versions)
            .chain(self.seq_set.iter().map(|(a, b, _)| tgz_name(a, b)))
            .chain(self.conc_set.iter().map(|(a, b, _)| tgz_name(a, b)));
        let exact = check_exact(&final_counts, expected);
        let listed_once =
            self.conc_set.iter().filter(|(a, b, _)| final_counts.get(&tgz_name(a, b)) == Some(&1)).count();
        let mem_end = read_mem(srv.pid())?;
        stop(&mut srv);
        drop(srv);
        let _ = fs::remove_dir_all(self.main_root());
        Ok(Concurrent {
            conc,
            final_body_len: final_body.len(),
            final_count: final_counts.len(),
            exact,
            listed_once,
            mem_end,
        })
    }

    /// 4b/5b. The large repository (`--big-versions`): cold start, restarts, memory, serving,
    /// uploads; skipped when generating its charts would not fit the budget.
    pub async fn large_repo(&self, run_started: Instant) -> Res<Large> {
        let (n, nb) = (self.opts.versions, self.opts.big_versions);
        let mut large = Large { rows: Vec::new(), targets: None, skipped: None };
        if nb <= n {
            return Ok(large);
        }
        let remaining = self.opts.deadline().saturating_sub(run_started.elapsed());
        let budget = self.opts.big_budget.min(remaining.saturating_sub(Duration::from_secs(150)));
        let Some(gen_time) = charts::ensure_charts(&self.opts, &self.scaffold, nb, budget)? else {
            large.skipped = Some(format!(
                "skipped: generating {nb} charts would exceed the {:.0} s budget (progress is cached; \
                 the next run continues from {})",
                budget.as_secs_f64(),
                charts::generated_count(&self.opts)
            ));
            return Ok(large);
        };
        let root = self.work.join("repo-big");
        log(format!("large repository: {nb} charts"));
        let t = Instant::now();
        let big_bytes = charts::populate(&self.opts, &root, nb)?;
        let link_time = t.elapsed();
        let mut s = start(&root, Duration::from_secs(300)).await;
        let cold = s.started_in();
        let cold_ready = index_ready_ms(&s.log());
        let (body, c) = get_index(&self.http, &s.repo_url()).await?;
        check_exact(&c, base_files(nb)).map_err(|e| format!("large cold start: {e}"))?;
        let mem_cold = read_mem(s.pid())?;
        let mut restarts = Vec::new();
        let mut ready = None;
        for k in 0..self.opts.restarts {
            log(format!("large restart {} with persisted state", k + 1));
            stop(&mut s);
            s.spawn_and_wait().await;
            ready = index_ready_ms(&s.log());
            restarts.push(s.started_in());
        }
        let (body2, c2) = get_index(&self.http, &s.repo_url()).await?;
        check_exact(&c2, base_files(nb)).map_err(|e| format!("large restart: {e}"))?;
        let mem_pre = read_mem(s.pid())?;
        // A little traffic so the served buffers are all touched.
        let wrk = external::run_wrk(&self.opts.wrk, 3, &s.url("/index.yaml"))?;
        let mem = read_mem(s.pid())?;
        let up_set = charts::upload_set(&self.scaffold, 4, 100);
        log(format!("{} sequential uploads into {nb}", up_set.len()));
        let up = measure::sequential_uploads(&self.http, &s.repo_url(), &up_set).await?;
        let mem_end = read_mem(s.pid())?;
        stop(&mut s);
        drop(s);
        let _ = fs::remove_dir_all(&root);
        let mut sorted = restarts.clone();
        sorted.sort();
        let med = sorted[sorted.len() / 2];
        let [p50, p90, p99, max] = summary(&up.visible);
        large.rows = vec![
            [
                format!("generate charts {n}..{nb} (cache)"),
                if gen_time.is_zero() { "cached".into() } else { format!("{:.1} s", gen_time.as_secs_f64()) },
                format!(
                    "hard-linking {nb} files into the repo: {:.1} s; {:.0} MiB of .tgz",
                    link_time.as_secs_f64(),
                    big_bytes as f64 / 1048576.0
                ),
            ],
            [
                format!("cold start, {nb} versions, no state"),
                format!("{:.3} s", cold.as_secs_f64()),
                format!("index ready: {}", cold_ready.unwrap_or_default()),
            ],
            [
                format!("restart with persisted state, {nb} versions (median of {})", restarts.len()),
                format!("{:.3} s", med.as_secs_f64()),
                format!("all: {} s; index ready: {}", secs_list(&restarts), ready.unwrap_or_default()),
            ],
            [
                format!("index body, {nb} versions"),
                format!("{} bytes", body2.len()),
                format!("{:.1} MiB (cold start body {} bytes)", body2.len() as f64 / 1048576.0, body.len()),
            ],
            [
                format!("server RSS, {nb} versions, after restart + 3 s wrk"),
                mib(mem.rss_kb),
                format!(
                    "{:.2}x the index; before the wrk {} ({:.2}x); peak (VmHWM) {}; after cold build: RSS {} / peak {}",
                    mem.rss_kb as f64 * 1024.0 / body2.len() as f64,
                    mib(mem_pre.rss_kb),
                    mem_pre.rss_kb as f64 * 1024.0 / body2.len() as f64,
                    mib(mem.hwm_kb),
                    mib(mem_cold.rss_kb),
                    mib(mem_cold.hwm_kb)
                ),
            ],
            [
                format!("GET /index.yaml, {nb} versions (wrk -t2 -c64, 3 s)"),
                format!("{:.1} req/s", wrk.rps),
                format!("{}; non-2xx: {}; {}", wrk.latency_line, wrk.non_2xx, wrk.socket_errors),
            ],
            [
                format!("upload -> visible, {nb}-version repo ({} sequential)", up_set.len()),
                format!("p50 {} ms", ms(p50)),
                format!(
                    "p90 {} / p99 {} / max {} ms; POST alone p50 {} ms; RSS after: {}",
                    ms(p90),
                    ms(p99),
                    ms(max),
                    ms(summary(&up.post)[0]),
                    mib(mem_end.rss_kb)
                ),
            ],
        ];
        large.targets = Some((med, mem, body2.len()));
        Ok(large)
    }
}
