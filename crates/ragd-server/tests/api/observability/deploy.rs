//! `deploy/prometheus` and `deploy/grafana` through promtool: the config, the alert rules, and
//! every query of the dashboard (as one recording rule each).

use std::collections::BTreeSet;

use serde_json::Value;

use super::promtool;
use crate::helpers::root;

pub(super) fn dashboard() -> Value {
    let path = root().join("deploy/grafana/dashboards/ragd.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard"))
        .expect("the dashboard is JSON")
}

/// Every panel, rows' nested panels included.
pub(super) fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// `(panel id, refId, expr)` of every query of the dashboard, Grafana's variables replaced by
/// what they stand for in a query.
pub(super) fn dashboard_queries(dashboard: &Value) -> Vec<(u64, String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$__range", "1h")
                .replace("$instance", ".*")
                .replace("$job", "ragd");
            assert!(!expr.contains('$'), "an unknown variable in {expr}");
            queries.push((
                panel["id"].as_u64().expect("id"),
                target["refId"].as_str().expect("refId").to_owned(),
                expr,
            ));
        }
    }
    queries
}

/// The alerts of `deploy/prometheus/alerts.yml`.
pub(super) fn alert_count() -> usize {
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).expect("alerts");
    text.matches("- alert: ").count()
}

#[test]
fn deploy_config_and_alert_rules_pass_promtool() {
    let config = root().join("deploy/prometheus/prometheus.yml");
    let rules = root().join("deploy/prometheus/alerts.yml");
    let out = promtool(&["check".as_ref(), "config".as_ref(), config.as_os_str()]);
    assert!(out.contains("SUCCESS"), "{out}");
    let text = std::fs::read_to_string(&rules).expect("alerts.yml");
    let alerts = alert_count();
    let out = promtool(&["check".as_ref(), "rules".as_ref(), rules.as_os_str()]);
    assert!(
        out.contains(&format!("SUCCESS: {alerts} rules found")),
        "{out}"
    );
    for needle in [
        r#"status=~"5..""#,
        "rag_request_duration_seconds_bucket",
        "rag_ready == 0",
        "up{job=\"ragd\"} == 0",
        r#"rag_webhook_deliveries_total{outcome="dead"}"#,
        "rag_embed_queue_capacity",
    ] {
        assert!(text.contains(needle), "alerts.yml has no {needle}");
    }
    for key in ["for: ", "severity: ", "summary: ", "description: "] {
        assert_eq!(text.matches(key).count(), alerts, "every alert has {key}");
    }
}

#[test]
fn dashboard_is_current_grafana_json_with_valid_promql() {
    let dashboard = dashboard();
    assert!(
        dashboard["schemaVersion"].as_u64().expect("schemaVersion") >= 39,
        "schemaVersion"
    );
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a datasource variable"
    );
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let id = panel["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} is used twice");
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "panel {id} picks its data source by the variable"
            );
        }
    }
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > 30, "{} queries", queries.len());
    // One recording rule per query: promtool parses every expression.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (id, ref_id, expr) in &queries {
        rules.push_str(&format!(
            "      - record: ragd_dashboard:panel_{id}_{ref_id}\n        expr: {}\n",
            serde_json::to_string(expr).expect("a JSON string is a YAML string")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dashboard-rules.yml");
    std::fs::write(&file, rules).expect("write");
    let out = promtool(&["check".as_ref(), "rules".as_ref(), file.as_os_str()]);
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{out}"
    );
    for needle in [
        "rag_requests_total",
        "rag_query_confidence_bucket",
        "rag_embed_queue_depth",
        "rag_generation_first_token_seconds_bucket",
        "rag_ingest_documents_total",
        "rag_rate_limit_rejections_total",
        "rag_guardrail_triggers_total",
        "rag_webhook_lag_seconds_bucket",
        "rag_webhook_pending",
        "rag_ready",
        "rag_build_info",
    ] {
        assert!(
            queries.iter().any(|(_, _, e)| e.contains(needle)),
            "no panel shows {needle}"
        );
    }
}
