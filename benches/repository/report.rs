//! The Markdown report: the machine, one row per measurement, the targets of `design.md` with a
//! verdict each.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::Res;
use crate::charts::VERSIONS_PER_NAME;
use crate::external::{machine, wrk_latencies};
use crate::measure::{Stats, mib, ms, secs_list, summary};
use crate::scale::{self, ColdVsHelm, Million};
use crate::scenarios::{Bench, Cold, Concurrent, HelmIndex, Large, Restarts, Serving};
use crate::tenancy::{AuthServing, TenantStart};

/// Everything the scenarios measured.
pub struct Figures {
    pub empty: Stats,
    pub helm_index: HelmIndex,
    pub cold: Cold,
    pub serving: Serving,
    pub restarts: Restarts,
    pub full: Stats,
    pub concurrent: Concurrent,
    pub large: Large,
    pub auth: AuthServing,
    pub tenants: Vec<TenantStart>,
    /// Issue 16: Helm 4.1 on the `helm create` charts; both Helms and chartroom on minimal ones.
    pub cold_scaffold: ColdVsHelm,
    pub cold_minimal: ColdVsHelm,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**NOT met**" }
}

/// Prints the report of a `--million` run to stdout.
pub fn print_million(m: &Million, tenants: &[TenantStart], run_started: Instant) -> Res<()> {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "## Chartroom benchmark results: {} versions (`--million`)\n", m.versions);
    let _ = writeln!(w, "| machine | |\n|---|---|");
    for (k, v) in machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let mut rows = scale::million_rows(m);
    tenancy_rows(None, tenants, &mut rows);
    let _ = writeln!(w, "\n| measurement | result | detail |\n|---|---|---|");
    for [a, b, c] in &rows {
        let _ = writeln!(w, "| {a} | {b} | {c} |");
    }
    scale::write_targets(w, &scale::targets((0, 0), None, None, Some(m), tenants));
    let _ = writeln!(w, "\nTotal bench time: {:.1} s", run_started.elapsed().as_secs_f64());
    io::stdout().write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}

/// Prints the report to stdout.
pub fn print(bench: &Bench, f: &Figures, run_started: Instant) -> Res<()> {
    let opts = &bench.opts;
    let (n, nb) = (opts.versions, opts.big_versions);
    let (empty, full, conc) = (&f.empty, &f.full, &f.concurrent.conc);
    let (wrk_cr, wrk_ng) = (&f.serving.chartroom, &f.serving.nginx);
    let [ep50, ep90, ep99, emax] = summary(&empty.post);
    let [ev50, ev90, ev99, evmax] = summary(&empty.visible);
    let [fp50, fp90, fp99, fmax] = summary(&full.post);
    let [fv50, fv90, fv99, fvmax] = summary(&full.visible);
    let ratio_nginx = wrk_cr.rps / wrk_ng.rps;
    let cold = f.cold.median;
    let helm_time = f.helm_index.median;
    let cold_ratio = cold.as_secs_f64() / helm_time.as_secs_f64();
    let ups = conc.ok as f64 / conc.elapsed.as_secs_f64();
    let index_len = f.cold.index_body.len();
    let mem_10k = f.serving.mem_after_wrk;

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "## Chartroom benchmark results\n");
    let _ = writeln!(w, "| machine | |\n|---|---|");
    for (k, v) in machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(
        w,
        "| chart | `helm create` scaffold, {} files, {} bytes .tgz each; {n} versions = {} names x {VERSIONS_PER_NAME}, {:.1} MiB |",
        bench.scaffold.len(),
        bench.sample.len(),
        n.div_ceil(VERSIONS_PER_NAME),
        f.helm_index.repo_bytes as f64 / 1048576.0
    );
    let _ = writeln!(
        w,
        "| chart generation | {} |\n",
        if bench.gen_main.is_zero() { "cached".to_owned() } else { format!("{:.1} s", bench.gen_main.as_secs_f64()) }
    );

    let mut rows: Vec<[String; 3]> = Vec::new(); // measurement, result, detail
    let mut row = |a: &str, b: String, c: String| rows.push([a.to_owned(), b, c]);
    row(
        &format!("upload POST, empty repo ({} sequential)", opts.seq_uploads),
        format!("p50 {} ms", ms(ep50)),
        format!("p90 {} / p99 {} / max {} ms", ms(ep90), ms(ep99), ms(emax)),
    );
    row(
        "upload -> visible (POST + GET 200), empty repo",
        format!("p50 {} ms", ms(ev50)),
        format!("p90 {} / p99 {} / max {} ms; extra GETs needed: {}", ms(ev90), ms(ev99), ms(evmax), empty.extra_gets),
    );
    row(
        &format!("upload POST, {n}-version repo ({} sequential)", opts.seq_uploads),
        format!("p50 {} ms", ms(fp50)),
        format!("p90 {} / p99 {} / max {} ms", ms(fp90), ms(fp99), ms(fmax)),
    );
    row(
        &format!("upload -> visible (POST + GET 200), {n}-version repo"),
        format!("p50 {} ms", ms(fv50)),
        format!("p90 {} / p99 {} / max {} ms; extra GETs needed: {}", ms(fv90), ms(fv99), ms(fvmax), full.extra_gets),
    );
    row(
        &format!("index.yaml body, {n} versions"),
        format!("{index_len} bytes"),
        format!(
            "{:.2} MiB; gzip variant: {} bytes (content-encoding: {})",
            index_len as f64 / 1048576.0,
            f.serving.gz_len,
            f.serving.gz_encoding
        ),
    );
    row(
        "GET /index.yaml, chartroom (wrk -t2 -c64)",
        format!("{:.1} req/s", wrk_cr.rps),
        format!(
            "{}; {}; non-2xx: {}; {}",
            wrk_cr.latency_line,
            wrk_latencies(wrk_cr),
            wrk_cr.non_2xx,
            wrk_cr.socket_errors
        ),
    );
    row(
        "GET /index.yaml, nginx same bytes (wrk -t2 -c64)",
        format!("{:.1} req/s", wrk_ng.rps),
        format!(
            "{}; {}; non-2xx: {}; {}",
            wrk_ng.latency_line,
            wrk_latencies(wrk_ng),
            wrk_ng.non_2xx,
            wrk_ng.socket_errors
        ),
    );
    row("chartroom / nginx", format!("{ratio_nginx:.2}x"), String::new());
    row(
        &format!("`helm repo index`, {n} charts (Helm 3.17, median of {})", f.helm_index.times.len()),
        format!("{:.3} s", helm_time.as_secs_f64()),
        format!("all: {} s; {} entries written", secs_list(&f.helm_index.times), f.helm_index.count),
    );
    row(
        &format!("cold start, {n} charts, no state (spawn -> first /health 200, median of {})", f.cold.times.len()),
        format!("{:.3} s", cold.as_secs_f64()),
        format!(
            "all: {} s; last run's index ready: {}",
            secs_list(&f.cold.times),
            f.cold.ready.clone().unwrap_or_default()
        ),
    );
    row("cold start / helm repo index", format!("{cold_ratio:.3}x"), String::new());
    row(
        &format!("restart with persisted state, {n} versions (median of {})", f.restarts.times.len()),
        format!("{:.3} s", f.restarts.median.as_secs_f64()),
        format!(
            "all: {} s; SIGTERM->exit: {} s; index ready: {}",
            secs_list(&f.restarts.times),
            secs_list(&f.restarts.stop_times),
            f.restarts.ready.clone().unwrap_or_default()
        ),
    );
    row(
        &format!("server RSS, {n} versions, after wrk"),
        mib(mem_10k.rss_kb),
        format!(
            "{:.2}x the index body; before wrk {}; peak (VmHWM) {}; after restart {}",
            mem_10k.rss_kb as f64 * 1024.0 / index_len as f64,
            mib(f.serving.mem_before_wrk.rss_kb),
            mib(mem_10k.hwm_kb),
            mib(f.restarts.mem_restarted.rss_kb)
        ),
    );
    row(
        &format!("concurrent uploads, {} clients, {} new versions", opts.conc_clients, opts.conc_uploads),
        format!("{ups:.1} uploads/s"),
        format!(
            "{} x 201 in {:.2} s; non-201: {:?}; transport errors: {}",
            conc.ok,
            conc.elapsed.as_secs_f64(),
            conc.non_201,
            conc.errors
        ),
    );
    row(
        "final index check",
        match &f.concurrent.exact {
            Ok(c) => format!("{c} listed, each once"),
            Err(e) => format!("FAILED: {e}"),
        },
        format!(
            "{}/{} concurrent uploads listed exactly once; body {} bytes",
            f.concurrent.listed_once, opts.conc_uploads, f.concurrent.final_body_len
        ),
    );
    row(
        &format!("server RSS at the end ({} versions)", f.concurrent.final_count),
        mib(f.concurrent.mem_end.rss_kb),
        format!("peak (VmHWM) {}", mib(f.concurrent.mem_end.hwm_kb)),
    );
    rows.extend(f.large.rows.iter().cloned());

    tenancy_rows(Some(&f.auth), &f.tenants, &mut rows);
    rows.extend(scale::cold_rows(&f.cold_scaffold, &f.cold_minimal));
    let _ = writeln!(w, "| measurement | result | detail |\n|---|---|---|");
    for [a, b, c] in &rows {
        let _ = writeln!(w, "| {a} | {b} | {c} |");
    }

    let mut targets: Vec<[String; 4]> = Vec::new(); // target, measured, verdict, note
    targets.push([
        format!("GET /index.yaml, {n} versions, 64 connections: >= 1.0x nginx"),
        format!("{ratio_nginx:.2}x ({:.0} vs {:.0} req/s)", wrk_cr.rps, wrk_ng.rps),
        verdict(ratio_nginx >= 1.0).into(),
        String::new(),
    ]);
    targets.push([
        format!("upload -> visible, {n} versions: p50 <= 10 ms"),
        format!("p50 {} ms", ms(fv50)),
        verdict(fv50 <= Duration::from_millis(10)).into(),
        String::new(),
    ]);
    let two_x = fv50.as_secs_f64() <= 2.0 * ev50.as_secs_f64();
    targets.push([
        "upload -> visible: within 2x of an empty repo (p50)".into(),
        format!("{:.2}x ({} vs {} ms)", fv50.as_secs_f64() / ev50.as_secs_f64(), ms(fv50), ms(ev50)),
        verdict(two_x).into(),
        String::new(),
    ]);
    targets.push([
        format!("cold start, {n} charts: <= 0.25x helm repo index"),
        format!("{cold_ratio:.3}x ({:.3} s vs {:.3} s)", cold.as_secs_f64(), helm_time.as_secs_f64()),
        verdict(cold_ratio <= 0.25).into(),
        String::new(),
    ]);
    match (&f.large.targets, &f.large.skipped) {
        (Some((bmed, bmem, blen)), _) => {
            targets.push([
                format!("restart with persisted state, {nb} versions: <= 1 s"),
                format!("{:.3} s", bmed.as_secs_f64()),
                verdict(*bmed <= Duration::from_secs(1)).into(),
                String::new(),
            ]);
            let r = bmem.rss_kb as f64 * 1024.0 / *blen as f64;
            targets.push([
                format!("RSS, {nb} versions: <= 3x the served index"),
                format!("{r:.2}x ({} vs {:.1} MiB)", mib(bmem.rss_kb), *blen as f64 / 1048576.0),
                verdict(r <= 3.0).into(),
                String::new(),
            ]);
        }
        (None, note) => {
            let note = note.clone().unwrap_or_else(|| "large test disabled (--big-versions 0)".into());
            targets.push([
                format!("restart with persisted state: <= 1 s (target is at 100,000; measured at {n})"),
                format!("{:.3} s", f.restarts.median.as_secs_f64()),
                "not measured at 100,000".into(),
                note.clone(),
            ]);
            let r = mem_10k.rss_kb as f64 * 1024.0 / index_len as f64;
            targets.push([
                format!("RSS <= 3x the served index (target is at 100,000; measured at {n})"),
                format!("{r:.2}x"),
                "not measured at 100,000".into(),
                note,
            ]);
        }
    }
    let lost = opts.conc_uploads - f.concurrent.listed_once;
    targets.push([
        format!("concurrent uploads, {} clients: >= 300 uploads/s, 0 lost", opts.conc_clients),
        format!("{ups:.1} uploads/s, {lost} lost, {} non-201", conc.non_201.values().sum::<usize>() + conc.errors),
        verdict(ups >= 300.0 && lost == 0 && f.concurrent.exact.is_ok()).into(),
        String::new(),
    ]);

    let (open, basic) = (AuthServing::mean(&f.auth.open), AuthServing::mean(&f.auth.basic));
    targets.push([
        format!(
            "GET /index.yaml with basic auth (cached), {} versions: within 10% of unauthenticated",
            f.auth.versions
        ),
        format!("{:.2}x ({basic:.0} vs {open:.0} req/s, mean of {} rounds)", basic / open, f.auth.open.len()),
        verdict(basic >= 0.9 * open).into(),
        "issue 10".into(),
    ]);

    let _ = writeln!(w, "\n| target (design.md) | measured | verdict | note |\n|---|---|---|---|");
    for [a, b, c, d] in &targets {
        let _ = writeln!(w, "| {a} | {b} | {c} | {d} |");
    }
    let issue16 = scale::targets((n, nb), Some(f), Some((&f.cold_scaffold, &f.cold_minimal)), None, &f.tenants);
    scale::write_targets(w, &issue16);
    let _ = writeln!(w, "\nTotal bench time: {:.1} s", run_started.elapsed().as_secs_f64());
    io::stdout().write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}

/// The rows of the authentication and tenant scenarios.
pub fn tenancy_rows(auth: Option<&AuthServing>, tenants: &[TenantStart], rows: &mut Vec<[String; 3]>) {
    let rounds = |results: &[crate::external::WrkResult]| {
        results.iter().map(|r| format!("{:.0}", r.rps)).collect::<Vec<_>>().join(", ")
    };
    let Some(auth) = auth else {
        return tenant_rows(tenants, rows);
    };
    let n = auth.versions;
    for (what, results) in [
        ("no authentication", &auth.open),
        ("basic auth, bcrypt cost 10, verification cached", &auth.basic),
        ("static bearer token", &auth.token),
    ] {
        rows.push([
            format!("GET /index.yaml, {n} versions ({} bytes), {what} (wrk -t2 -c64)", auth.body_len),
            format!("{:.1} req/s", AuthServing::mean(results)),
            format!("rounds: {} req/s; last: {}", rounds(results), results.last().map_or("", |r| &r.latency_line)),
        ]);
    }
    tenant_rows(tenants, rows);
}

fn tenant_rows(tenants: &[TenantStart], rows: &mut Vec<[String; 3]>) {
    for t in tenants {
        let total = t.tenants * t.versions_each;
        rows.push([
            format!("cold start, {} tenants x {} versions ({total}), --depth 1, no state", t.tenants, t.versions_each),
            format!("{:.3} s", t.cold.as_secs_f64()),
            format!(
                "index ready: {}; RSS {} (peak {})",
                t.cold_ready.clone().unwrap_or_default(),
                mib(t.mem_cold.rss_kb),
                mib(t.mem_cold.hwm_kb)
            ),
        ]);
        let mut sorted = t.restarts.clone();
        sorted.sort();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        rows.push([
            format!(
                "restart with persisted state, {} tenants x {} versions (median of {})",
                t.tenants,
                t.versions_each,
                t.restarts.len()
            ),
            format!("{:.3} s", median.as_secs_f64()),
            format!(
                "all: {} s; index ready: {}; RSS {} (peak {}); sum of the tenants' index bodies {:.1} MiB",
                secs_list(&t.restarts),
                t.restart_ready.clone().unwrap_or_default(),
                mib(t.mem_restarted.rss_kb),
                mib(t.mem_restarted.hwm_kb),
                t.bodies as f64 / 1048576.0
            ),
        ]);
    }
}
