//! The results: one row per run, the table of a run, the CSV of every run, and `--compare`
//! (each target's medians, then every snak figure as a ratio to the ceiling and beside the
//! best peer).

use std::path::Path;

use crate::stats::{dur, si};
use crate::Opts;

/// One line of the table.
pub struct Row {
    pub name: String,
    /// The target's label (snak-irc, old-native, ceiling, redis ...).
    pub proto: String,
    /// snak, ceiling or peer.
    pub kind: &'static str,
    pub ok: bool,
    pub result: String,
    pub conns: usize,
    /// What `count` counts: deliveries, messages, connections, users, join/parts or MiB.
    pub count: f64,
    pub secs: f64,
    pub unit: &'static str,
    pub srv_cpu: f64,
    pub gen_cpu: f64,
    /// Busy CPU time of everything else on the machine meanwhile (other users' jobs).
    pub other_cpu: f64,
    pub lat: Option<(u64, u64, u64)>,
    pub rss_kib: (u64, u64),
    /// idle: server RSS growth per connection, bytes.
    pub per_conn: f64,
    /// The one-minute load average when the run began.
    pub load: f64,
    pub extra: String,
    /// Figures of the scenario's own (amplify's copies, drops and refusals), by name.
    pub figs: Vec<(&'static str, f64)>,
}

impl Row {
    pub fn new(name: &str, label: &str, kind: &'static str) -> Row {
        Row {
            name: name.into(),
            proto: label.into(),
            kind,
            ok: false,
            result: String::new(),
            conns: 0,
            count: 0.0,
            secs: 0.0,
            unit: "",
            srv_cpu: 0.0,
            gen_cpu: 0.0,
            other_cpu: 0.0,
            lat: None,
            rss_kib: (0, 0),
            per_conn: 0.0,
            load: 0.0,
            extra: String::new(),
            figs: Vec::new(),
        }
    }

    /// What the scenario counts per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.count / self.secs
        } else {
            0.0
        }
    }

    /// What the scenario counts per second of server CPU.
    pub fn per_cpu(&self) -> f64 {
        if self.srv_cpu > 0.0 {
            self.count / self.srv_cpu
        } else {
            0.0
        }
    }

    /// The figure the median run is chosen by, larger is better: server CPU for the
    /// registration, storm and join/part scenarios (less is better), p99 latency for paced,
    /// work per server CPU-second for the rest.
    pub fn key(&self) -> f64 {
        match self.name.as_str() {
            "paced" => -(self.lat.map_or(0, |l| l.1) as f64),
            "amplify" => 0.0,
            n if cpu_scenario(n) => -self.srv_cpu,
            _ => self.per_cpu(),
        }
    }
}

/// Scenarios whose figure is the server CPU a fixed amount of work took.
fn cpu_scenario(name: &str) -> bool {
    name.starts_with("idle")
        || name.starts_with("register")
        || name.starts_with("storm")
        || name.starts_with("joinpart")
}

/// The results of one invocation as one fixed-width table.
pub fn table(rows: &[Row], opts: &Opts, pinning: &str) -> String {
    let mut s = format!(
        "\nstress: {pinning}{}, snak = {}\n",
        if opts.smoke {
            "; smoke sizes: timings mean nothing"
        } else {
            ""
        },
        opts.snak.display()
    );
    let head = [
        "scenario",
        "target",
        "conns",
        "count",
        "secs",
        "rate/s",
        "per srv-cpu-s",
        "p50",
        "p99",
        "max",
        "srv cpu",
        "gen cpu",
        "other cpu",
        "srv rss/peak MiB",
        "notes",
        "result",
    ];
    let mut cells: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let na = r.count == 0.0 && !r.ok;
        let per = if r.srv_cpu > 0.0 {
            si(r.per_cpu())
        } else {
            "-".into()
        };
        let (p50, p99, max) = match r.lat {
            Some((a, b, c)) if c > 0 => (dur(a), dur(b), dur(c)),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let measured = !na && (r.count > 0.0 || r.srv_cpu > 0.0);
        let dash = |v: String| if measured { v } else { "-".to_string() };
        cells.push(vec![
            r.name.clone(),
            r.proto.clone(),
            r.conns.to_string(),
            dash(format!("{} {}", si(r.count), r.unit)),
            dash(format!("{:.2}", r.secs)),
            dash(si(r.rate())),
            dash(per),
            p50,
            p99,
            max,
            dash(format!("{:.3}s", r.srv_cpu)),
            dash(format!("{:.3}s", r.gen_cpu)),
            dash(format!("{:.2}s", r.other_cpu)),
            dash(format!(
                "{:.1}/{:.1}",
                r.rss_kib.0 as f64 / 1024.0,
                r.rss_kib.1 as f64 / 1024.0
            )),
            r.extra.clone(),
            if r.ok {
                r.result.clone()
            } else {
                "FAIL".into()
            },
        ]);
    }
    push_columns(&mut s, &cells);
    s
}

/// The CSV columns, one line per run. `kind` and `figs` (name=value;...) came later: files
/// without them still compare.
const CSV_HEAD: &str = "who,scenario,run,ok,conns,count,secs,srv_cpu_s,gen_cpu_s,other_cpu_s,\
                        p50_ns,p99_ns,rss_kib,bytes_per_conn,load1,kind,figs";

/// Appends one run as a line of `CSV_HEAD` (written first if the file is new).
pub fn append_csv(path: &Path, r: &Row, run: usize) -> std::io::Result<()> {
    use std::io::Write;
    let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(f, "{CSV_HEAD}")?;
    }
    let (p50, p99, _) = r.lat.unwrap_or((0, 0, 0));
    let figs: Vec<String> = r.figs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(
        f,
        "{},{},{},{},{},{:.0},{:.6},{:.6},{:.6},{:.3},{},{},{},{:.0},{:.2},{},{}",
        r.proto,
        r.name,
        run + 1,
        r.ok,
        r.conns,
        r.count,
        r.secs,
        r.srv_cpu,
        r.gen_cpu,
        r.other_cpu,
        p50,
        p99,
        r.rss_kib.0,
        r.per_conn,
        r.load,
        r.kind,
        figs.join(";")
    )
}

/// One figure of the comparison: its name, whether more is better, and how it is read from a
/// run. `ratio`: whether dividing it by the ceiling's (or a peer's) means anything.
struct Figure {
    name: &'static str,
    more_is_better: bool,
    ratio: bool,
    get: fn(&Rec) -> f64,
    show: fn(f64) -> String,
}

struct Rec {
    who: String,
    kind: String,
    scenario: String,
    ok: bool,
    count: f64,
    secs: f64,
    srv: f64,
    gen: f64,
    p50: f64,
    p99: f64,
    per_conn: f64,
    figs: Vec<(String, f64)>,
}

impl Rec {
    /// A scenario figure by name; NaN (shown as n/a) when the run did not report it.
    fn fig(&self, name: &str) -> f64 {
        self.figs
            .iter()
            .find(|(k, _)| k == name)
            .map_or(f64::NAN, |f| f.1)
    }
}

fn fig(
    name: &'static str,
    more_is_better: bool,
    get: fn(&Rec) -> f64,
    show: fn(f64) -> String,
) -> Figure {
    Figure {
        name,
        more_is_better,
        ratio: true,
        get,
        show,
    }
}

/// A figure shown, not divided (counts whose ratio means nothing, like 0 copies).
fn info(name: &'static str, get: fn(&Rec) -> f64) -> Figure {
    Figure {
        name,
        more_is_better: false,
        ratio: false,
        get,
        show: |v| format!("{v:.0}"),
    }
}

fn figures(scenario: &str) -> Vec<Figure> {
    let per = |r: &Rec| if r.srv > 0.0 { r.count / r.srv } else { 0.0 };
    let rate = |r: &Rec| if r.secs > 0.0 { r.count / r.secs } else { 0.0 };
    let gen_per = |r: &Rec| if r.gen > 0.0 { r.count / r.gen } else { 0.0 };
    let secs = |v: f64| format!("{v:.3}s");
    let ns = |v: f64| dur(v as u64);
    let us = |v: f64| format!("{:.2}us", v * 1e6);
    match scenario {
        s if s.starts_with("idle") || s.starts_with("register") => vec![
            fig(
                "server RSS bytes per connection",
                false,
                |r| r.per_conn,
                |v| format!("{v:.0} B"),
            ),
            fig("server CPU to register them all", false, |r| r.srv, secs),
            fig("registrations per server CPU-second", true, per, si),
            fig("generator CPU", false, |r| r.gen, secs),
        ],
        s if s.starts_with("storm") => vec![
            fig("server CPU for the storm", false, |r| r.srv, secs),
            fig(
                "server CPU per user (quit + reconnect)",
                false,
                |r| if r.count > 0.0 { r.srv / r.count } else { 0.0 },
                us,
            ),
        ],
        s if s.starts_with("joinpart") => vec![
            fig("server CPU for the joins and parts", false, |r| r.srv, secs),
            fig(
                "server CPU per join + part",
                false,
                |r| if r.count > 0.0 { r.srv / r.count } else { 0.0 },
                us,
            ),
        ],
        "amplify" => vec![
            info("attack lines sent", |r| r.fig("lines")),
            info("most copies one member got", |r| r.fig("copies_max")),
            info("ordinary members dropped", |r| r.fig("dropped")),
            info("attack lines refused", |r| r.fig("refused")),
            info("attacker slowed (flood warnings)", |r| r.fig("slowed")),
            info("attacker dropped", |r| r.fig("attacker_dropped")),
            info("members still hear each other", |r| r.fig("alive")),
        ],
        "paced" => vec![
            fig("p99 latency", false, |r| r.p99, ns),
            fig("p50 latency", false, |r| r.p50, ns),
            fig("per server CPU-second", true, per, si),
        ],
        _ => vec![
            fig("per server CPU-second", true, per, si),
            fig("per second (wall)", true, rate, si),
            fig("per generator CPU-second", true, gen_per, si),
            fig("p99 latency (loaded)", false, |r| r.p99, ns),
        ],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn parse(csv: &str) -> Vec<Rec> {
    csv.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            if f.len() < 15 || f[0] == "who" {
                return None;
            }
            let kind = match f.get(15) {
                Some(k) if !k.is_empty() => k.to_string(),
                _ if f[0].starts_with("snak") => "snak".into(),
                _ if f[0] == "ceiling" => "ceiling".into(),
                _ => "peer".into(),
            };
            let figs = f
                .get(16)
                .map(|s| {
                    s.split(';')
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            Some((k.to_string(), v.parse().ok()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Rec {
                who: f[0].to_string(),
                kind,
                scenario: f[1].to_string(),
                ok: f[3] == "true",
                count: num(5),
                secs: num(6),
                srv: num(7),
                gen: num(8),
                p50: num(10),
                p99: num(11),
                per_conn: num(13),
                figs,
            })
        })
        .collect()
}

/// Per scenario and figure: each target's median over its runs; then each snak target's
/// figure as a fraction of the ceiling's and against the best peer's; then how the storm and
/// join/part costs per user grow with N.
pub fn compare(csv: &str) -> String {
    let recs = parse(csv);
    let mut whos: Vec<(String, String)> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for r in &recs {
        if !whos.iter().any(|(w, _)| *w == r.who) {
            whos.push((r.who.clone(), r.kind.clone()));
        }
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
    }
    let of_kind = |k: &str| -> Vec<&String> {
        whos.iter()
            .filter(|(_, kind)| kind == k)
            .map(|(w, _)| w)
            .collect()
    };
    let snaks = of_kind("snak");
    let peers = of_kind("peer");
    let ceiling = of_kind("ceiling").first().copied();
    let runs = |w: &str, sc: &str| -> Vec<&Rec> {
        recs.iter()
            .filter(|r| r.who == w && r.scenario == sc)
            .collect()
    };
    let med = |w: &str, sc: &str, fig: &Figure| -> Option<f64> {
        let rs = runs(w, sc);
        if rs.is_empty() || rs.iter().any(|r| !r.ok) {
            return None;
        }
        let v = median(rs.iter().map(|r| (fig.get)(r)).collect());
        (v.is_finite() && (v > 0.0 || !fig.ratio)).then_some(v)
    };
    // How much better a is than b: above 1, a is better, whichever way the figure goes.
    let advantage = |fig: &Figure, a: f64, b: f64| {
        if fig.more_is_better {
            a / b
        } else {
            b / a
        }
    };

    let mut out = String::from("\nmedians per target (runs in brackets)\n");
    let mut head = vec!["scenario".to_string(), "figure".to_string()];
    head.extend(whos.iter().map(|(w, _)| w.clone()));
    let mut cells = vec![head];
    for sc in &scenarios {
        for fig in figures(sc) {
            let mut line = vec![sc.clone(), fig.name.to_string()];
            for (w, _) in &whos {
                let rs = runs(w, sc);
                let failed = rs.iter().any(|r| !r.ok);
                // What a failed run counted still shows for counts (amplify's copies).
                let counted = (!fig.ratio && failed)
                    .then(|| median(rs.iter().map(|r| (fig.get)(r)).collect()))
                    .filter(|v| v.is_finite());
                line.push(match (med(w, sc, &fig), counted) {
                    (Some(v), _) => format!("{} [{}]", (fig.show)(v), rs.len()),
                    (None, Some(v)) => format!("{} [{}, FAIL]", (fig.show)(v), rs.len()),
                    _ if failed => "FAIL".into(),
                    _ if rs.is_empty() => "-".into(),
                    _ => "n/a".into(),
                });
            }
            cells.push(line);
        }
    }
    push_columns(&mut out, &cells);

    out.push_str(
        "\nsnak against the ceiling and the best peer, same run: `/ceiling` is the fraction of \
         the ceiling's\nfigure (1.00 = as good; for less-is-better figures the ceiling's divided \
         by snak's); `vs best` is\nsnak's advantage over the best peer measured (above 1: snak \
         better)\n",
    );
    let mut head = vec![
        "scenario".to_string(),
        "figure".to_string(),
        "ceiling".to_string(),
        "best peer".to_string(),
    ];
    for s in &snaks {
        head.push(format!("{s} /ceiling"));
        head.push(format!("{s} vs best"));
    }
    let mut cells = vec![head];
    for sc in &scenarios {
        for fig in figures(sc).into_iter().filter(|f| f.ratio) {
            let c = ceiling.and_then(|c| med(c, sc, &fig));
            let best = peers
                .iter()
                .filter_map(|p| med(p, sc, &fig).map(|v| (p, v)))
                .max_by(|a, b| advantage(&fig, a.1, b.1).total_cmp(&1.0));
            if c.is_none() && best.is_none() {
                continue; // nothing to hold snak against (storms, join/part)
            }
            let mut line = vec![
                sc.clone(),
                fig.name.to_string(),
                c.map_or("-".into(), |v| (fig.show)(v)),
                best.map_or("-".into(), |(p, v)| format!("{p} {}", (fig.show)(v))),
            ];
            for s in &snaks {
                let v = med(s, sc, &fig);
                line.push(match (v, c) {
                    (Some(a), Some(b)) => format!("{:.2}", advantage(&fig, a, b)),
                    _ => "-".into(),
                });
                line.push(match (v, best) {
                    (Some(a), Some((_, b))) => format!("{:.2}x", advantage(&fig, a, b)),
                    _ => "-".into(),
                });
            }
            cells.push(line);
        }
    }
    push_columns(&mut out, &cells);

    // Server CPU per user (storm) or per join + part, by N.
    let growth: [(&str, &[&str]); 2] = [
        (
            "storm: server CPU per user",
            &["storm5k", "storm10k", "storm19k"],
        ),
        (
            "joinpart: server CPU per join + part",
            &["joinpart1k", "joinpart10k"],
        ),
    ];
    let get = |r: &Rec| r.srv / r.count.max(1.0);
    let mut cells = vec![vec![
        "figure".to_string(),
        "target".to_string(),
        "per N".to_string(),
        "largest / smallest N (goal: at most 1.5)".to_string(),
    ]];
    for (name, group) in growth {
        for (w, _) in &whos {
            let per: Vec<(&str, f64)> = group
                .iter()
                .filter_map(|sc| {
                    let rs = runs(w, sc);
                    (!rs.is_empty() && rs.iter().all(|r| r.ok && r.count > 0.0))
                        .then(|| (*sc, median(rs.iter().map(|r| get(r)).collect())))
                })
                .collect();
            if per.len() < 2 {
                continue;
            }
            let shown: Vec<String> = per
                .iter()
                .map(|(sc, v)| format!("{sc} {:.2}us", v * 1e6))
                .collect();
            let (first, last) = (per[0].1, per[per.len() - 1].1);
            cells.push(vec![
                name.to_string(),
                w.clone(),
                shown.join(", "),
                format!("{:.2}", last / first),
            ]);
        }
    }
    if cells.len() > 1 {
        out.push_str("\ngrowth with N\n");
        push_columns(&mut out, &cells);
    }
    out
}

/// Appends `cells` (the first row being the header) as left-aligned columns.
pub fn push_columns(out: &mut String, cells: &[Vec<String>]) {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| cells.iter().map(|c| c[i].len()).max().unwrap_or(0))
        .collect();
    for c in cells {
        let line: Vec<String> = c
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_divides_by_the_ceiling_and_reads_old_files() {
        let csv = "who,scenario,run,ok,conns,count,secs,srv_cpu_s,gen_cpu_s,other_cpu_s,p50_ns,p99_ns,rss_kib,bytes_per_conn,load1\n\
                   snak-irc,pairs500,1,true,1000,1000000,1,1.0,1,0,0,0,0,0,0\n\
                   ceiling,pairs500,1,true,1000,1000000,1,0.5,1,0,0,0,0,0,0\n\
                   redis,pairs500,1,true,1000,1000000,1,2.0,1,0,0,0,0,0,0\n";
        let out = compare(csv);
        // snak 1 M/s against the ceiling's 2 M/s: 0.50 of it; twice Redis.
        let line = out
            .lines()
            .find(|l| {
                l.starts_with("pairs500")
                    && l.contains("per server CPU-second")
                    && l.contains("0.50")
            })
            .unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains("2.00x"), "{line}");
    }

    #[test]
    fn growth_is_largest_over_smallest() {
        let csv = "who,scenario,run,ok,conns,count,secs,srv_cpu_s,gen_cpu_s,other_cpu_s,p50_ns,p99_ns,rss_kib,bytes_per_conn,load1,kind,figs\n\
                   snak-native,storm5k,1,true,5000,5000,1,0.5,1,0,0,0,0,0,0,snak,\n\
                   snak-native,storm19k,1,true,19000,19000,1,2.85,1,0,0,0,0,0,0,snak,\n";
        let out = compare(csv);
        assert!(out.contains("1.50"), "{out}");
    }
}
