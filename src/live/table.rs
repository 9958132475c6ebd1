//! `ebb status`: the stats document as a table for people.

use serde_json::Value;

fn secs(v: &Value) -> String {
    let s = v.as_f64().unwrap_or(0.0);
    if s >= 3600.0 {
        format!("{:.0}h{:02.0}m", (s / 3600.0).floor(), (s % 3600.0) / 60.0)
    } else if s >= 60.0 {
        format!("{:.0}m{:02.0}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.1}s")
    }
}

fn mib(bytes: u64) -> String {
    if bytes == 0 {
        "-".into()
    } else {
        format!("{:.1}M", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// One line of summary, then one row per worker process.
pub fn render(doc: &Value) -> String {
    let ebb = &doc["ebb"];
    let workers = doc["workers"].as_array().cloned().unwrap_or_default();
    let draining = workers
        .iter()
        .filter(|w| w["state"] == "draining" || w["state"] == "killing")
        .count();
    let jobs: u64 = workers.iter().filter_map(|w| w["jobs"].as_u64()).sum();
    let mut out = format!(
        "ebb {} (pid {}), {}, configuration generation {}, up {}: {} processes configured, \
         {} running ({} draining), {} jobs, {} requests served, listen queue {}\n",
        doc["version"]
            .as_str()
            .unwrap_or("?")
            .trim_start_matches("ebb-"),
        doc["pid"],
        ebb["state"].as_str().unwrap_or("?"),
        ebb["config_generation"],
        secs(&ebb["uptime_s"]),
        ebb["processes"],
        workers.len(),
        draining,
        jobs,
        ebb["requests_total"],
        doc["listen_queue"],
    );
    let header = [
        "WORKER", "PID", "GEN", "STATE", "AGE", "REQUESTS", "INFLIGHT", "RSS", "JOBS",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for w in &workers {
        let limit = w["request_limit"]
            .as_u64()
            .map_or(String::new(), |l| format!("/{l}"));
        let names: Vec<String> = w["job_names"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| {
                format!(
                    "{} {}",
                    j["name"].as_str().unwrap_or("?"),
                    secs(&j["age_s"])
                )
            })
            .collect();
        let njobs = w["jobs"].as_u64().unwrap_or(0);
        let jobs = match (njobs, names.is_empty()) {
            (0, _) => "-".to_string(),
            (n, true) => n.to_string(),
            (n, false) => format!("{n}: {}", names.join(", ")),
        };
        let mut state = w["state"].as_str().unwrap_or("?").to_string();
        if let Some(r) = w["recycling"].as_str() {
            state += &format!(" (recycle: {r})");
        }
        if let Some(d) = w["draining_s"].as_f64() {
            state += &format!(" {}", secs(&Value::from(d)));
        }
        rows.push(vec![
            w["id"].to_string(),
            w["pid"].to_string(),
            w["config_generation"].to_string(),
            state,
            secs(&w["age_s"]),
            format!("{}{limit}", w["requests"]),
            w["in_flight"].to_string(),
            mib(w["rss"].as_u64().unwrap_or(0)),
            jobs,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line += cell;
            } else {
                line += &format!("{cell:<w$}  ", w = widths[i]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out + &fork_servers(doc) + &side_processes(doc)
}

/// The fork servers (`fork_servers` in the stats), when there are any.
fn fork_servers(doc: &Value) -> String {
    let list = doc["fork_servers"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nFORK SERVER  GEN  STATE      IMPORT  SINCE\n");
    for f in &list {
        let import = f["import_s"]
            .as_f64()
            .map_or("-".to_string(), |s| format!("{s:.2}s"));
        out += &format!(
            "{:<12} {:<4} {:<10} {:<7} {}\n",
            f["pid"].to_string(),
            f["config_generation"].to_string(),
            f["state"].as_str().unwrap_or("?"),
            import,
            secs(&f["since_s"]),
        );
    }
    out
}

/// The daemons, mules and cron entries (`side_processes` in the stats), when there are any.
fn side_processes(doc: &Value) -> String {
    let list = doc["side_processes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nSIDE       PID      RESTARTS  COMMAND\n");
    for s in &list {
        let who = format!("{} {}", s["kind"].as_str().unwrap_or("?"), s["n"]);
        let pid = s["pid"].as_i64().map_or("-".to_string(), |p| p.to_string());
        out += &format!(
            "{who:<10} {pid:<8} {:<9} {}\n",
            s["restarts"].to_string(),
            s["command"].as_str().unwrap_or("")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_lists_fork_servers() {
        let doc = json!({
            "ebb": {}, "workers": [],
            "fork_servers": [
                {"pid": 40, "config_generation": 1, "state": "retired", "import_s": 0.5,
                 "since_s": 3.0},
                {"pid": 41, "config_generation": 2, "state": "importing", "import_s": null,
                 "since_s": 0.2},
            ],
        });
        let t = render(&doc);
        assert!(t.contains("\nFORK SERVER  GEN  STATE"), "{t}");
        assert!(
            t.contains("\n40           1    retired    0.50s   3.0s\n"),
            "{t}"
        );
        assert!(
            t.contains("\n41           2    importing  -       0.2s\n"),
            "{t}"
        );
        let none = render(&json!({"ebb": {}, "workers": []}));
        assert!(!none.contains("FORK"), "{none}");
    }

    #[test]
    fn table_lists_side_processes() {
        let doc = json!({
            "version": "ebb-0.1.0", "pid": 10, "ebb": {}, "workers": [],
            "side_processes": [
                {"kind": "daemon", "n": 1, "pid": 77, "restarts": 2, "command": "celery worker"},
                {"kind": "cron", "n": 1, "pid": null, "restarts": 5, "command": "backup.sh"},
            ],
        });
        let t = render(&doc);
        assert!(
            t.contains("\ndaemon 1   77       2         celery worker\n"),
            "{t}"
        );
        assert!(
            t.contains("\ncron 1     -        5         backup.sh\n"),
            "{t}"
        );
        let none = render(&json!({"ebb": {}, "workers": []}));
        assert!(!none.contains("SIDE"), "{none}");
    }

    #[test]
    fn table_shows_workers_jobs_longest_first_and_limits() {
        let doc = json!({
            "version": "ebb-0.1.0", "pid": 10, "listen_queue": 3,
            "ebb": {"state": "running", "config_generation": 2, "uptime_s": 75.0,
                    "processes": 2, "requests_total": 40},
            "workers": [
                {"id": 1, "pid": 11, "config_generation": 2, "state": "ready", "age_s": 4000.0,
                 "requests": 7, "request_limit": 100, "in_flight": 1, "rss": 10485760,
                 "jobs": 2, "job_names": [{"name": "report", "age_s": 12.0},
                                          {"name": "mail", "age_s": 1.5}]},
                {"id": 1, "pid": 9, "config_generation": 1, "state": "draining",
                 "draining_s": 2.0, "age_s": 30.0, "requests": 33, "request_limit": null,
                 "in_flight": 0, "rss": 0, "jobs": 0, "job_names": []},
            ],
        });
        let t = render(&doc);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("generation 2"), "{t}");
        assert!(lines[0].contains("2 running (1 draining), 2 jobs"), "{t}");
        assert!(lines[1].starts_with("WORKER  PID  GEN"), "{t}");
        assert!(lines[2].contains("7/100"), "{t}");
        assert!(lines[2].contains("1h07m"), "{t}");
        assert!(lines[2].ends_with("2: report 12.0s, mail 1.5s"), "{t}");
        assert!(lines[2].contains("10.0M"), "{t}");
        assert!(lines[3].contains("draining 2.0s"), "{t}");
    }
}
