//! The deployment files: Dockerfiles (hadolint), the compose file (the
//! Compose Specification's schema), Terraform (checkov, and python-hcl2
//! reading every module), and the Grafana provisioning. The tools come from
//! `scripts/setup`.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

fn output(cmd: &mut Command) -> (bool, String) {
    let out = run(cmd);
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn dockerfiles_pass_hadolint() {
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("docker"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Dockerfile"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "CPU and GPU Dockerfiles expected: {files:?}"
    );
    for f in &files {
        let (ok, log) = output(Command::new("hadolint").arg(f));
        assert!(ok, "hadolint {}: {log}", f.display());
    }
    let gpu = fs::read_to_string(repo().join("docker/Dockerfile.worker-gpu")).unwrap();
    let final_stage = gpu.rsplit("\nFROM ").next().unwrap();
    assert!(
        final_stage.contains("NVIDIA_DRIVER_CAPABILITIES=compute,video,utility"),
        "the GPU image's final stage must expose NVENC/NVDEC (video) and NVML (utility)"
    );
    for f in &files {
        let body = fs::read_to_string(f).unwrap();
        let last = body.rsplit("\nFROM ").next().unwrap();
        assert!(
            body.lines().any(|l| l.starts_with("USER 10001")),
            "{}: images run as a non-root user",
            f.display()
        );
        assert!(!last.contains("USER root"), "{}", f.display());
    }
}

#[test]
fn compose_file_follows_the_compose_specification() {
    let schema = std::env::var("LIVEFLEET_COMPOSE_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target/tools/compose_spec.json"));
    assert!(
        schema.exists(),
        "{} missing: run scripts/setup",
        schema.display()
    );
    let (ok, log) = output(
        Command::new("python3")
            .arg(repo().join("tests/deploy/compose_check.py"))
            .arg(repo().join("docker/compose.yaml"))
            .arg(&schema),
    );
    assert!(ok, "{log}");
    // What the fleet needs is there: the parts, Prometheus, Grafana, and the GPU reservation.
    let compose = fs::read_to_string(repo().join("docker/compose.yaml")).unwrap();
    for service in [
        "nats:",
        "s3:",
        "scheduler:",
        "ingest:",
        "chat:",
        "worker-1:",
        "worker-2:",
        "worker-gpu:",
        "prometheus:",
        "grafana:",
    ] {
        assert!(
            compose.contains(&format!("\n  {service}")),
            "no {service} service"
        );
    }
    assert!(compose.contains("driver: nvidia") && compose.contains("video"));
    assert!(compose.contains("\"-js\""), "NATS without JetStream");
}

#[test]
fn terraform_passes_checkov() {
    let (ok, log) = output(
        Command::new("checkov")
            .args(["-d", "terraform", "--quiet", "--compact"])
            .env("BC_SKIP_MAPPING", "TRUE")
            .current_dir(repo()),
    );
    assert!(ok, "checkov: {log}");
    // Every skip names its reason in place.
    for entry in walk(&repo().join("terraform")) {
        let body = fs::read_to_string(&entry).unwrap();
        for line in body.lines().filter(|l| l.contains("checkov:skip=")) {
            let reason = line.split_once("checkov:skip=").unwrap().1;
            let why = reason.split_once(':').map(|(_, w)| w.trim()).unwrap_or("");
            assert!(
                why.len() >= 20,
                "{}: a checkov skip without its reason: {line}",
                entry.display()
            );
        }
    }
}

#[test]
fn terraform_modules_are_typed_described_and_wired() {
    let (ok, log) = output(
        Command::new("python3")
            .arg(repo().join("tests/deploy/terraform_check.py"))
            .arg(repo().join("terraform")),
    );
    assert!(ok, "{log}");
    assert!(log.contains("7 modules"), "{log}");
    for module in ["network", "storage", "nats", "workers", "control"] {
        let readme = repo()
            .join("terraform/modules")
            .join(module)
            .join("README.md");
        let text =
            fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
        let variables = fs::read_to_string(
            repo()
                .join("terraform/modules")
                .join(module)
                .join("variables.tf"),
        )
        .unwrap();
        for line in variables.lines() {
            if let Some(name) = line
                .strip_prefix("variable \"")
                .and_then(|l| l.split('"').next())
            {
                assert!(
                    text.contains(&format!("`{name}`")),
                    "{}: input {name} not documented",
                    readme.display()
                );
            }
        }
    }
}

#[test]
fn the_compose_fleets_prometheus_config_loads_the_alert_rules() {
    // Laid out as compose mounts them: the config with alerts.yml beside it.
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        repo().join("docker/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    fs::copy(
        repo().join("monitoring/prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    let (ok, log) = output(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(dir.path()),
    );
    assert!(ok && log.contains("rules found"), "{log}");
    let config = fs::read_to_string(repo().join("docker/prometheus.yml")).unwrap();
    for job in [
        "livefleet-scheduler",
        "livefleet-ingest",
        "livefleet-worker",
        "livefleet-origin",
    ] {
        assert!(config.contains(job), "no {job} job");
    }
}

#[test]
fn grafana_provisioning_names_the_dashboards_folder() {
    let provider =
        fs::read_to_string(repo().join("monitoring/grafana/provisioning/dashboards/livefleet.yml"))
            .unwrap();
    let compose = fs::read_to_string(repo().join("docker/compose.yaml")).unwrap();
    assert!(provider.contains("path: /var/lib/grafana/dashboards"));
    assert!(compose.contains("../monitoring/grafana/dashboards:/var/lib/grafana/dashboards"));
    let datasource = fs::read_to_string(
        repo().join("monitoring/grafana/provisioning/datasources/prometheus.yml"),
    )
    .unwrap();
    assert!(datasource.contains("type: prometheus"));
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "tf") {
            out.push(p);
        }
    }
    out
}
