//! Instruction counts (`--callgrind <valgrind>`, issue 16): wall-clock figures on a shared
//! two-core machine move by tens of percent between runs, instruction counts by well under one,
//! so these are the figures a change is compared against for regressions.
//!
//! Two scenarios, each a `chartroom serve` under `valgrind --tool=callgrind` (a wrapper script
//! given to the toolkit as the chartroom binary, so the process is started, polled and stopped
//! exactly like in the other scenarios):
//! * the cold build of `--callgrind-cold` minimal charts without state: counted from the start of
//!   the process until `/health/ready` answers (`callgrind_control -d` dumps then);
//! * `--callgrind-uploads` sequential uploads (POST, then GET until visible) into a repository of
//!   `--callgrind-versions` minimal charts restarted from persisted state: counted only between
//!   the first upload and the last (`--instr-atstart=no`, `callgrind_control -i on`, `-d`), with
//!   the state write put off past the window (`--statefile-delay 1h`) so the count repeats.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chartroom_testkit::{Launch, Server, StorageTarget, load_client};

use crate::charts::{self, Kind};
use crate::external::machine;
use crate::measure::{self, check_exact, get_index};
use crate::scenarios::stop;
use crate::{Opts, Res, log};

/// Functions listed per scenario, by exclusive instruction count.
const TOP: usize = 20;

/// One counted scenario: its totals and the annotated top functions.
struct Counted {
    what: String,
    total: u64,
    top: String,
    /// Inclusive counts of the chart-name comparison (issue 16's `ChartName::cmp`).
    name_order: String,
    wall: Duration,
}

/// A sibling tool of `valgrind` (`callgrind_control`, `callgrind_annotate`), else from `PATH`.
fn tool(valgrind: &Path, name: &str) -> PathBuf {
    valgrind.parent().map(|d| d.join(name)).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from(name))
}

fn run_tool(valgrind: &Path, name: &str, args: &[&str]) -> Res<String> {
    let out = Command::new(tool(valgrind, name)).args(args).output().map_err(|e| format!("running {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Asks callgrind in process `pid` to write its counts so far, and waits for the file.
async fn dump(valgrind: &Path, pid: u32, out: &Path) -> Res<PathBuf> {
    run_tool(valgrind, "callgrind_control", &["-d", &pid.to_string()])?;
    // `--callgrind-out-file=X` dumps go to `X.1`, `X.2`, ...; the file is complete once its
    // `totals:` line is written.
    let part = PathBuf::from(format!("{}.1", out.display()));
    let started = Instant::now();
    loop {
        if fs::read_to_string(&part).is_ok_and(|t| t.lines().any(|l| l.starts_with("totals:"))) {
            return Ok(part);
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("no callgrind dump at {} after 300 s", part.display()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Totals and top functions of a dump.
fn annotate(valgrind: &Path, what: String, dump: &Path, wall: Duration) -> Res<Counted> {
    let file = dump.to_str().ok_or("non-UTF-8 path")?;
    let text = run_tool(valgrind, "callgrind_annotate", &["--threshold=100", file])?;
    let total = text
        .lines()
        .find(|l| l.contains("PROGRAM TOTALS"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .ok_or_else(|| format!("no PROGRAM TOTALS in the annotation of {file}"))?;
    // The function lines follow the second header (`Ir  file:function`).
    let functions: Vec<&str> =
        text.lines().skip_while(|l| !l.contains("file:function")).skip(2).filter(|l| !l.trim().is_empty()).collect();
    let top = functions.iter().take(TOP).map(|l| l.trim_end()).collect::<Vec<_>>().join("\n");
    let inclusive = run_tool(valgrind, "callgrind_annotate", &["--inclusive=yes", "--threshold=100", file])?;
    let name_order = inclusive
        .lines()
        .filter(|l| l.contains("go_yaml_key_order") || l.contains("ChartName as core::cmp::Ord"))
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Counted { what, total, top, name_order, wall })
}

/// `chartroom serve` on `root` with `args`; under callgrind (writing `out`, with the callgrind
/// options `extra`) when `out` is given.
async fn launch(root: &Path, args: &[&str], out: Option<&Path>, extra: &str) -> Server {
    let mut launch = Launch::new(StorageTarget::LocalDir(root.to_owned())).args(&["--cache-interval", "0"]).args(args);
    if let Some(out) = out {
        launch = launch.env(&[("BENCH_CALLGRIND_OUT", &out.display().to_string()), ("BENCH_CALLGRIND_ARGS", extra)]);
    }
    launch.ready_within = Duration::from_secs(3600);
    // Every poll of `/health/ready` is counted too: rarely, so that the count barely depends on
    // how long the (load-dependent) start takes.
    launch.poll_every = Duration::from_secs(2);
    launch.stop_within = Duration::from_secs(600);
    Server::launch(launch).await
}

pub async fn run(opts: &Opts, valgrind: &Path, run_started: Instant) -> Res<()> {
    // One folder per binary, so that two binaries can be counted at the same time.
    let binary = opts.server.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = opts.data_dir.join(format!("callgrind-{binary}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let server = std::path::absolute(&opts.server).map_err(|e| e.to_string())?;
    let wrapper = dir.join("chartroom-under-callgrind.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# chartroom under callgrind when BENCH_CALLGRIND_OUT is set (see benches/repository/callgrind.rs).\n\
             if [ -n \"$BENCH_CALLGRIND_OUT\" ]; then\n  exec '{}' --tool=callgrind \
             --callgrind-out-file=\"$BENCH_CALLGRIND_OUT\" $BENCH_CALLGRIND_ARGS '{}' \"$@\"\nfi\nexec '{}' \"$@\"\n",
            valgrind.display(),
            server.display(),
            server.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    chartroom_testkit::use_chartroom_binary(&wrapper);
    let http = load_client();
    let (cold_n, big_n, uploads) = (opts.callgrind_cold, opts.callgrind_versions, opts.callgrind_uploads);
    charts::ensure(opts, Kind::Minimal, cold_n.max(big_n), Duration::from_secs(3600))?;
    let mut counted = Vec::new();

    // 1. The cold build.
    let root = dir.join("repo-cold");
    charts::populate_with(opts, Kind::Minimal, &root, cold_n)?;
    log(format!("callgrind: cold build of {cold_n} minimal charts"));
    let out = dir.join("cold.out");
    let mut srv = launch(&root, &[], Some(&out), "").await;
    let wall = srv.started_in();
    let part = dump(valgrind, srv.pid(), &out).await?;
    let (_, counts) = get_index(&http, &srv.repo_url()).await?;
    check_exact(&counts, charts::base_files(cold_n)).map_err(|e| format!("callgrind cold build: {e}"))?;
    drop(counts);
    stop(&mut srv);
    counted.push(annotate(
        valgrind,
        format!("cold build, {cold_n} minimal charts, no state (start -> ready)"),
        &part,
        wall,
    )?);
    drop(srv);
    let _ = fs::remove_dir_all(&root);

    // 2. Uploads into the large repository, restarted from persisted state.
    let root = dir.join("repo-big");
    charts::populate_with(opts, Kind::Minimal, &root, big_n)?;
    log(format!("callgrind: native cold start of {big_n} minimal charts (writes the state)"));
    let mut native = launch(&root, &[], None, "").await;
    let (_, counts) = get_index(&http, &native.repo_url()).await?;
    check_exact(&counts, charts::base_files(big_n)).map_err(|e| format!("callgrind repository: {e}"))?;
    drop(counts);
    stop(&mut native);
    drop(native);
    log(format!("callgrind: restart of {big_n} under callgrind (not counted), then {uploads} uploads (counted)"));
    let out = dir.join("uploads.out");
    // The persisted state is written once the uploads pause or after `--statefile-delay`: how
    // often that falls inside the counted window would depend on the wall time of the uploads
    // under callgrind, so it is put off until after the window (the shutdown writes it).
    let mut srv = launch(&root, &["--statefile-delay", "1h"], Some(&out), "--instr-atstart=no").await;
    let set = charts::upload_set_of(Kind::Minimal, 5, uploads);
    run_tool(valgrind, "callgrind_control", &["-i", "on", &srv.pid().to_string()])?;
    let t = Instant::now();
    measure::sequential_uploads(&http, &srv.repo_url(), &set).await?;
    let wall = t.elapsed();
    let part = dump(valgrind, srv.pid(), &out).await?;
    stop(&mut srv);
    drop(srv);
    counted.push(annotate(
        valgrind,
        format!("{uploads} sequential uploads (POST + GET until visible) into {big_n} minimal-chart versions"),
        &part,
        wall,
    )?);
    let _ = fs::remove_dir_all(&root);

    let mut w = String::new();
    let _ = writeln!(w, "## Chartroom instruction counts (callgrind)\n");
    let _ = writeln!(w, "| machine | |\n|---|---|");
    for (k, v) in machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(w, "| server | `{}` |", server.display());
    let _ = writeln!(w, "\n| scenario | instructions (Ir) | wall time under callgrind |\n|---|---|---|");
    for c in &counted {
        let _ = writeln!(w, "| {} | {} | {:.1} s |", c.what, thousands(c.total), c.wall.as_secs_f64());
    }
    for c in &counted {
        let _ = writeln!(w, "\n### {}: top {TOP} functions (exclusive Ir)\n\n```\n{}\n```", c.what, c.top);
        if !c.name_order.is_empty() {
            let _ = writeln!(w, "\nChart-name order (inclusive Ir):\n\n```\n{}\n```", c.name_order);
        }
    }
    let _ = writeln!(w, "\nTotal bench time: {:.1} s", run_started.elapsed().as_secs_f64());
    let _ = writeln!(w, "\nThe dumps stay in `{}` (`callgrind_annotate <file>`) until the next run.", dir.display());
    io::stdout().write_all(w.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
