//! The rules the in-cluster controllers apply to what modelops emits, one test each.
//!
//! Each test names the upstream source it encodes. Versions read: argo-rollouts
//! v1.9.1 (compared with v1.8.4 and v1.10.0-rc1), flagger v1.44.0. The outputs are
//! those of the example repository under each flavor (`example_under`), whose
//! deployments cover a canary with shadow and steps, a blue-green with preview and
//! manual promotion, and stable-only deployments.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use support::{example_under, modelops_in};

/// A compiled copy of the example under `flavor`.
struct Compiled {
    dir: tempfile::TempDir,
}

impl Compiled {
    fn new(flavor: &str) -> Self {
        let dir = example_under(flavor);
        let run = modelops_in(dir.path(), &["compile"]);
        assert_eq!(run.code, 0, "{flavor}: {}", run.stderr);
        Compiled { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn text(&self, path: &str) -> String {
        std::fs::read_to_string(self.root().join("generated").join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn documents(&self, path: &str) -> Vec<Value> {
        serde_saphyr::from_multiple::<Value>(&self.text(path)).expect("generated YAML parses")
    }

    fn exists(&self, path: &str) -> bool {
        self.root().join("generated").join(path).exists()
    }

    /// Every generated file, relative to `generated/`.
    fn files(&self) -> BTreeSet<String> {
        support::tree(&self.root().join("generated"))
            .into_keys()
            .collect()
    }
}

fn kind<'a>(documents: &'a [Value], kind: &str) -> Option<&'a Value> {
    documents.iter().find(|d| d["kind"] == kind)
}

fn all<'a>(documents: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    documents.iter().filter(move |d| d["kind"] == kind)
}

const DEPLOYMENTS: [(&str, &str); 4] = [
    ("staging", "support-bot"),
    ("staging", "triage"),
    ("prod", "support-bot"),
    ("prod", "triage"),
];

fn strategy(rollout: &Value) -> (&str, &Value) {
    let strategy = &rollout["spec"]["strategy"];
    if strategy["canary"].is_object() {
        ("canary", &strategy["canary"])
    } else {
        ("blueGreen", &strategy["blueGreen"])
    }
}

// ---------------------------------------------------------------- Argo Rollouts

/// argo-rollouts `rollout/trafficrouting/istio/istio.go`,
/// `getHttpRouteIndexesToPatch` ("HTTP Route '%s' is not found in the defined
/// Virtual Service.") and `validateVirtualServiceRouteDestinations` /
/// `validateDestinationRule` ("Canary DestinationRule subset '%s' not found in
/// route"): every route the Rollout names exists and holds both the stable and the
/// canary subset; `processRoutes` deletes any other destination on every SetWeight.
#[test]
fn argo_managed_routes_hold_the_stable_and_the_canary_subset() {
    let out = Compiled::new("argo-rollouts");
    let mut checked = 0;
    for (env, model) in DEPLOYMENTS {
        let rollout = out.documents(&format!("kubernetes/{env}/{model}.yaml"));
        let rollout = kind(&rollout, "Rollout").expect("a Rollout");
        let (name, strategy) = strategy(rollout);
        if name != "canary" {
            continue;
        }
        let routing = &strategy["trafficRouting"]["istio"];
        let istio = out.documents(&format!("istio/{env}/{model}.yaml"));
        let vs = kind(&istio, "VirtualService").expect("a VirtualService");
        assert_eq!(vs["metadata"]["name"], routing["virtualService"]["name"]);
        let stable = routing["destinationRule"]["stableSubsetName"]
            .as_str()
            .unwrap();
        let canary = routing["destinationRule"]["canarySubsetName"]
            .as_str()
            .unwrap();
        for route_name in routing["virtualService"]["routes"].as_array().unwrap() {
            let route = vs["spec"]["http"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == *route_name)
                .unwrap_or_else(|| panic!("{env}/{model}: route {route_name} is missing"));
            let subsets: Vec<&str> = route["route"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["destination"]["subset"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(subsets, [stable, canary], "{env}/{model}");
            let weights: u64 = route["route"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["weight"].as_u64().unwrap())
                .sum();
            assert_eq!(weights, 100, "{env}/{model}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "every canary deployment was checked");
}

/// argo-rollouts `rollout/trafficrouting/istio/istio.go`, `UpdateHash`: the
/// controller adds `rollouts-pod-template-hash` to the stable and canary subsets,
/// keeps every other label, and drops other subsets. A label that differs between
/// releases (a version) would leave the stable subset matching no pod after a
/// promotion. `pkg/apis/rollouts/validation/validation_references.go`,
/// `ValidateService` ("Service %q has unmatch label %q in rollout"): every Service
/// selector key is in the pod template with the same value.
#[test]
fn argo_subsets_and_services_select_only_what_every_release_shares() {
    let out = Compiled::new("argo-rollouts");
    for (env, model) in DEPLOYMENTS {
        let desired = out.documents(&format!("kubernetes/{env}/{model}.yaml"));
        let rollout = kind(&desired, "Rollout").unwrap();
        let mut templates = vec![rollout["spec"]["template"]["metadata"]["labels"].clone()];
        let stable_file = format!("kubernetes/{env}/{model}.stable.yaml");
        if out.exists(&stable_file) {
            let stable = out.documents(&stable_file);
            templates.push(
                kind(&stable, "Rollout").unwrap()["spec"]["template"]["metadata"]["labels"].clone(),
            );
        }
        let shared = |key: &str, value: &Value| templates.iter().all(|t| t[key] == *value);
        let istio = out.documents(&format!("istio/{env}/{model}.yaml"));
        if let Some(rule) = kind(&istio, "DestinationRule") {
            let names: Vec<&str> = rule["spec"]["subsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["stable", "canary"], "{env}/{model}");
            for subset in rule["spec"]["subsets"].as_array().unwrap() {
                for (key, value) in subset["labels"].as_object().unwrap() {
                    assert!(shared(key, value), "{env}/{model}: subset label {key}");
                }
            }
        }
        for service in all(&desired, "Service") {
            for (key, value) in service["spec"]["selector"].as_object().unwrap() {
                assert!(
                    shared(key, value),
                    "{env}/{model}: {} selects {key}",
                    service["metadata"]["name"]
                );
            }
        }
    }
}

/// argo-rollouts `pkg/apis/rollouts/validation/validation.go`,
/// `ValidateRolloutStrategyCanary` ("Rollout has missing field
/// 'spec.strategy.canary.trafficRouting.managedRoutes'", "Steps define a route that
/// does not exist in spec.strategy.canary.trafficRouting.managedRoutes", and a match
/// with exactly one of exact, regex, prefix); `utils/replicaset/canary.go`,
/// `GetCanaryReplicasOrWeight` (no setWeight or setCanaryScale before: 0 canary pods)
/// and `rollout/trafficrouting.go`, `reconcileTrafficRouting` (managed routes are
/// removed while the canary has no available pod): the mirror has pods to reach.
#[test]
fn argo_mirrors_to_canary_pods_through_a_managed_route() {
    let out = Compiled::new("argo-rollouts");
    let rollout = out.documents("kubernetes/prod/support-bot.yaml");
    let (_, canary) = strategy(kind(&rollout, "Rollout").unwrap());
    let steps = canary["steps"].as_array().unwrap();
    let managed: Vec<&str> = canary["trafficRouting"]["managedRoutes"]
        .as_array()
        .expect("managedRoutes")
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let mut scaled = false;
    let mut mirrors = 0;
    for step in steps {
        if let Some(scale) = step.get("setCanaryScale") {
            scaled = scale["weight"].as_u64().is_some_and(|w| w > 0)
                || scale["replicas"].as_u64().is_some_and(|r| r > 0);
        }
        if step["setWeight"].as_u64().is_some_and(|w| w > 0) {
            scaled = true;
        }
        if let Some(mirror) = step.get("setMirrorRoute") {
            assert!(managed.contains(&mirror["name"].as_str().unwrap()));
            if let Some(matches) = mirror["match"].as_array() {
                assert!(scaled, "a mirror before any canary pod: {step}");
                for m in matches {
                    let path = m["path"].as_object().unwrap();
                    assert_eq!(path.len(), 1, "exactly one of exact, regex, prefix");
                }
                mirrors += 1;
            }
        }
    }
    assert_eq!(mirrors, 1, "{steps:?}");
    // After the shadow, the canary's scale follows the weights again.
    assert!(
        steps
            .iter()
            .any(|s| s["setCanaryScale"]["matchTrafficWeight"] == true)
    );
}

/// The Rollout walks exactly the steps the plan lists (`plan.json`), the ones the
/// proxy targets' traffic states walk under `flavor="deployment"`.
#[test]
fn argo_walks_the_planned_steps() {
    let out = Compiled::new("argo-rollouts");
    let plan: Value = serde_json::from_str(&out.text("plan.json")).unwrap();
    for deployment in plan["deployments"].as_array().unwrap() {
        let (env, model) = (
            deployment["environment"].as_str().unwrap(),
            deployment["model"].as_str().unwrap(),
        );
        let planned: Vec<u64> = deployment["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stage"] == "step")
            .map(|s| s["weight"].as_u64().unwrap())
            .collect();
        let documents = out.documents(&format!("kubernetes/{env}/{model}.yaml"));
        let (_, strategy) = strategy(kind(&documents, "Rollout").unwrap());
        let weights: Vec<u64> = strategy["steps"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|s| s["setWeight"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(weights, planned, "{env}/{model}");
    }
}

/// argo-rollouts `pkg/apis/rollouts/validation/validation_references.go`,
/// `ValidateAnalysisTemplateWithType` ("AnalysisTemplate %s has metric %s which runs
/// indefinitely. Invalid value for count: %s"), and `utils/analysis/factory.go`,
/// `ValidateMetric` ("count must be >= inconclusiveLimit", "interval must be
/// specified when count > 1"): pre-promotion analysis has literal, finite counts.
#[test]
fn argo_pre_promotion_analysis_ends() {
    let out = Compiled::new("argo-rollouts");
    let documents = out.documents("kubernetes/prod/triage.yaml");
    let (name, blue_green) = strategy(kind(&documents, "Rollout").unwrap());
    assert_eq!(name, "blueGreen");
    let template = blue_green["prePromotionAnalysis"]["templates"][0]["templateName"]
        .as_str()
        .unwrap();
    let analysis = all(&documents, "AnalysisTemplate")
        .find(|t| t["metadata"]["name"] == template)
        .expect("the template is emitted with the Rollout");
    for metric in analysis["spec"]["metrics"].as_array().unwrap() {
        let count = metric["count"].as_u64().expect("a literal count");
        assert!(count >= 1);
        assert!(count >= metric["failureLimit"].as_u64().unwrap());
        assert!(count >= metric["inconclusiveLimit"].as_u64().unwrap());
        assert!(count <= 1 || metric["interval"].is_string());
    }
    // `ValidateRolloutStrategyBlueGreen`: two different Services, both emitted.
    let active = blue_green["activeService"].as_str().unwrap();
    let preview = blue_green["previewService"].as_str().unwrap();
    assert_ne!(active, preview);
    let services: Vec<&str> = all(&documents, "Service")
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(services.contains(&active) && services.contains(&preview));
    // A manual promotion: the controller pauses for `promote`.
    assert_eq!(blue_green["autoPromotionEnabled"], false);
}

/// argo-rollouts `utils/evaluate/evaluate.go`, `EvaluateResult`: with both
/// conditions set, a measurement meeting neither is Inconclusive, and every
/// comparison with NaN is false (`metricproviders/prometheus/prometheus_test.go`,
/// `TestProcessNaNResponse`); an empty result must not be indexed
/// (`docs/features/analysis.md`, "Empty array"). So NaN — too little traffic — reads
/// as Inconclusive, never Successful, and an empty vector never errors.
#[test]
fn argo_reads_no_data_as_inconclusive() {
    let out = Compiled::new("argo-rollouts");
    let documents = out.documents("kubernetes/prod/support-bot.yaml");
    let analysis = kind(&documents, "AnalysisTemplate").unwrap();
    for metric in analysis["spec"]["metrics"].as_array().unwrap() {
        let success = metric["successCondition"].as_str().unwrap();
        let failure = metric["failureCondition"].as_str().unwrap();
        assert!(success.starts_with("len(result) > 0 && all(result, {!isNaN(#) && "));
        assert!(failure.starts_with("any(result, {!isNaN(#) && ("));
        assert!(!success.contains("result[0]") && !failure.contains("result[0]"));
        let query = metric["provider"]["prometheus"]["query"].as_str().unwrap();
        assert!(query.ends_with(" or on() vector(NaN)"), "{query}");
    }
}

/// argo-rollouts `rollout/sync.go`, `shouldFullPromote` ("Initial deploy"): a
/// Rollout's first creation goes straight to its template, skipping steps and
/// analysis. The stable file holds the same objects with the stable release's
/// template, and the pipeline creates the Rollout from it when the cluster has none.
/// `pkg/kubectl-argo-rollouts/cmd/abort`: after `abort`, setting the template back to
/// stable rolls back at once; the rollback job does both.
#[test]
fn argo_is_created_from_the_stable_release_and_aborted_back_to_it() {
    let out = Compiled::new("argo-rollouts");
    let desired = out.documents("kubernetes/prod/support-bot.yaml");
    let stable = out.documents("kubernetes/prod/support-bot.stable.yaml");
    let release = |docs: &[Value]| {
        kind(docs, "Rollout").unwrap()["spec"]["template"]["metadata"]["annotations"]
            ["modelops.dev/release"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(release(&desired), "1.5.0");
    assert_eq!(release(&stable), "1.4.2");
    let strip = |docs: &[Value]| {
        let mut docs = docs.to_vec();
        for doc in &mut docs {
            if doc["kind"] == "Rollout" {
                doc["spec"]["template"] = Value::Null;
            }
        }
        docs
    };
    assert_eq!(strip(&desired), strip(&stable), "only the template differs");
    // No stable file where the desired state is stable.
    assert!(!out.exists("kubernetes/staging/support-bot.stable.yaml"));
    let workflow = out.text("github-actions/support-bot.yml");
    let create = workflow
        .find("modelops apply support-bot --env prod --state stable-base")
        .expect("bootstrap from stable");
    let apply = workflow
        .find("modelops apply support-bot --env prod --state base")
        .unwrap();
    assert!(create < apply);
    assert!(workflow.contains("kubectl argo rollouts abort support-bot -n llm-prod"));
}

/// argo-rollouts `pkg/kubectl-argo-rollouts/cmd/status/status.go`: `status` ends on
/// Healthy or Degraded and keeps waiting while Paused, so a manual blue-green waits
/// for the Paused phase and is promoted behind the environment's approval.
#[test]
fn argo_pipelines_wait_on_the_controller_and_never_walk_traffic() {
    let out = Compiled::new("argo-rollouts");
    for model in ["support-bot", "triage"] {
        for ci in [
            format!("github-actions/{model}.yml"),
            format!("gitlab-ci/{model}.yml"),
        ] {
            let text = out.text(&ci);
            assert!(
                !text.contains("MODELOPS_APPLY") && !text.contains("Apply traffic state"),
                "{ci} walks traffic states"
            );
            for state in ["/stable.yaml", "/shadow.yaml", "/step-", "/promoted.yaml"] {
                assert!(!text.contains(state), "{ci} applies a traffic state");
            }
            assert!(text.contains("kubectl argo rollouts status"), "{ci}");
        }
    }
    let triage = out.text("github-actions/triage.yml");
    assert!(triage.contains("--for=jsonpath='{.status.phase}'=Paused"));
    assert!(triage.contains("kubectl argo rollouts promote triage -n llm-prod"));
    assert!(
        !out.files()
            .iter()
            .any(|f| f.starts_with("istio/") && f.matches('/').count() > 2),
        "no per-state istio files under a controller"
    );
}

// ---------------------------------------------------------------------- Flagger

/// flagger `artifacts/flagger/crd.yaml`: `analysis` is `oneOf` interval + threshold
/// with exactly one of `iterations`, `stepWeight`, `stepWeights`; intervals match
/// `^[0-9]+(m|s)`. `pkg/controller/scheduler.go`, `nextStepWeight`: step weights must
/// increase strictly, or the canary stalls.
#[test]
fn flagger_analysis_has_one_shape_and_increasing_weights() {
    let out = Compiled::new("flagger");
    let interval = |text: &str| {
        let digits = text.trim_end_matches(['m', 's']);
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (text.ends_with('m') || text.ends_with('s'))
    };
    for (env, model) in DEPLOYMENTS {
        let documents = out.documents(&format!("kubernetes/{env}/{model}.yaml"));
        let canary = kind(&documents, "Canary").expect("a Canary");
        let analysis = &canary["spec"]["analysis"];
        assert!(interval(analysis["interval"].as_str().unwrap()));
        assert!(analysis["threshold"].as_u64().is_some());
        let shapes = ["iterations", "stepWeight", "stepWeights"]
            .iter()
            .filter(|k| !analysis[**k].is_null())
            .count();
        assert_eq!(shapes, 1, "{env}/{model}: {analysis}");
        if let Some(weights) = analysis["stepWeights"].as_array() {
            let weights: Vec<u64> = weights.iter().map(|w| w.as_u64().unwrap()).collect();
            assert!(weights.windows(2).all(|w| w[0] < w[1]), "{weights:?}");
            assert!(weights.iter().all(|w| (1..=100).contains(w)));
        }
        for metric in analysis["metrics"].as_array().unwrap() {
            assert!(interval(metric["interval"].as_str().unwrap()));
        }
    }
}

/// flagger `pkg/controller/scheduler_metrics.go`, `runMetricChecks`: a template
/// metric without `interval` renders `{{ interval }}` empty, and without
/// `thresholdRange` fails on any value above 0; a metric named
/// `request-success-rate` or `request-duration` also runs the built-in query.
/// `pkg/metrics/providers/prometheus.go`, `RunQuery`: an empty result or NaN is
/// "no values found", counted as a failed check. The query is the one Argo's
/// analysis and `modelops guard` use.
#[test]
fn flagger_metrics_share_the_guards_query_and_always_have_a_range() {
    let flagger = Compiled::new("flagger");
    let argo = Compiled::new("argo-rollouts");
    let documents = flagger.documents("kubernetes/prod/support-bot.yaml");
    let canary = kind(&documents, "Canary").unwrap();
    let templates: BTreeMap<&str, &str> = all(&documents, "MetricTemplate")
        .map(|t| {
            (
                t["metadata"]["name"].as_str().unwrap(),
                t["spec"]["query"].as_str().unwrap(),
            )
        })
        .collect();
    let argo_docs = argo.documents("kubernetes/prod/support-bot.yaml");
    let argo_queries: BTreeMap<&str, &str> = kind(&argo_docs, "AnalysisTemplate").unwrap()["spec"]
        ["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["provider"]["prometheus"]["query"].as_str().unwrap(),
            )
        })
        .collect();
    let metrics = canary["spec"]["analysis"]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 3);
    for metric in metrics {
        let name = metric["name"].as_str().unwrap();
        assert!(!["request-success-rate", "request-duration"].contains(&name));
        assert!(metric["interval"].is_string());
        assert!(metric["thresholdRange"]["max"].is_number());
        let template = metric["templateRef"]["name"].as_str().unwrap();
        assert_eq!(templates[template], argo_queries[name], "{name}");
    }
}

/// flagger `pkg/router/istio.go`, `reconcileVirtualService`, and
/// `pkg/router/kubernetes_default.go`, `reconcileService`: Flagger creates the
/// Services `<name>`, `-primary`, `-canary`, the VirtualService and the
/// DestinationRules, and replaces any it finds; `pkg/canary/deployment_controller.go`
/// creates `<name>-primary`. modelops emits none of them, and the target
/// Deployment's selector has a label Flagger selects by (`getSelectorLabel`: `app`,
/// `name` or `app.kubernetes.io/name`).
#[test]
fn flagger_gets_no_object_it_creates_itself() {
    let out = Compiled::new("flagger");
    assert!(
        !out.files().iter().any(|f| f.starts_with("istio/")),
        "Flagger generates the Istio routes"
    );
    for (env, model) in DEPLOYMENTS {
        for file in [
            format!("kubernetes/{env}/{model}.yaml"),
            format!("kubernetes/{env}/{model}.stable.yaml"),
        ] {
            if !out.exists(&file) {
                continue;
            }
            let documents = out.documents(&file);
            for forbidden in ["Service", "VirtualService", "DestinationRule"] {
                assert!(kind(&documents, forbidden).is_none(), "{file}: {forbidden}");
            }
            let deployments: Vec<&Value> = all(&documents, "Deployment").collect();
            assert_eq!(deployments.len(), 1, "{file}");
            assert_eq!(deployments[0]["metadata"]["name"], model);
            let selector = deployments[0]["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap();
            assert!(
                ["app", "name", "app.kubernetes.io/name"]
                    .iter()
                    .any(|k| selector.contains_key(*k))
            );
        }
    }
}

/// flagger `pkg/controller/scheduler.go`, `advanceCanary`/`runCanary`: each weight is
/// held for one analysis interval, and a `confirm-traffic-increase` webhook that
/// fails holds the weight without a failed check; the load tester's `/gate/check`
/// answers 200 only while the gate is open (`pkg/loadtester/gate.go`). So the
/// analysis interval is the guards' (1m), never a pause, and an hour's pause is the
/// pipeline opening the gate after the hour.
#[test]
fn flagger_reads_guards_every_minute_and_holds_pauses_at_a_gate() {
    let out = Compiled::new("flagger");
    let documents = out.documents("kubernetes/prod/support-bot.yaml");
    let analysis = &kind(&documents, "Canary").unwrap()["spec"]["analysis"];
    assert_eq!(analysis["interval"], "1m");
    let hooks: BTreeMap<&str, &str> = analysis["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["type"].as_str().unwrap(), w["url"].as_str().unwrap()))
        .collect();
    assert_eq!(
        hooks["confirm-traffic-increase"],
        "http://flagger-loadtester.llm-prod/gate/check"
    );
    assert_eq!(
        hooks["rollback"],
        "http://flagger-loadtester.llm-prod/rollback/check"
    );
    let workflow = out.text("github-actions/support-bot.yml");
    let hold = workflow.find("sleep 3600").expect("an hour's hold");
    let open = workflow[hold..]
        .find("gate/open")
        .expect("the gate opens after the hold");
    assert!(open > 0);
    assert!(workflow.contains("rollback/open"));
    assert!(!workflow.contains("Apply traffic state"));
}

/// flagger `pkg/controller/scheduler.go`, `runBlueGreen`: with `mirror`, every
/// iteration mirrors; traffic moves after the last one, and a `confirm-promotion`
/// webhook holds the promotion (phase `WaitingPromotion`) until its gate opens.
#[test]
fn flagger_blue_green_mirrors_for_the_whole_shadow_and_promotes_at_a_gate() {
    let dir = example_under("flagger");
    // The example's prod environment mirrors triage's blue-green for 1h.
    let model = dir.path().join("models/triage.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(text.contains("shadow \"1h\" percent=50"), "{text}");
    let run = modelops_in(dir.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let documents: Vec<Value> = serde_saphyr::from_multiple(
        &std::fs::read_to_string(dir.path().join("generated/kubernetes/prod/triage.yaml")).unwrap(),
    )
    .unwrap();
    let analysis = &kind(&documents, "Canary").unwrap()["spec"]["analysis"];
    assert_eq!(analysis["mirror"], true);
    assert_eq!(analysis["mirrorWeight"], 50);
    // triage's fastest guard reads every 30 s: 120 iterations are the hour the
    // shadow asks.
    assert_eq!(analysis["interval"], "30s");
    assert_eq!(analysis["iterations"], 120);
    assert!(
        analysis["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["type"] == "confirm-promotion")
    );
}

// ------------------------------------------------------------------- deployment

/// The pipeline drives (`flavor="deployment"`): subsets select the track, never the
/// release, so both old and new pods of a track stay routable while it rolls; a
/// rolling update adds a pod before removing one; the deploy job waits for every
/// track's rollout before it moves traffic, and retires an unused candidate track
/// only after traffic left it.
#[test]
fn the_pipeline_moves_traffic_only_to_pods_that_finished_rolling() {
    let out = Compiled::new("deployment");
    for (env, model) in DEPLOYMENTS {
        let documents = out.documents(&format!("istio/{env}/{model}/stable.yaml"));
        let rule = kind(&documents, "DestinationRule").unwrap();
        for subset in rule["spec"]["subsets"].as_array().unwrap() {
            assert_eq!(subset["labels"]["modelops.dev/track"], subset["name"]);
            assert!(subset["labels"]["app.kubernetes.io/version"].is_null());
        }
        let workloads = out.documents(&format!("kubernetes/{env}/{model}.yaml"));
        for deployment in all(&workloads, "Deployment") {
            assert_eq!(
                deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                0
            );
        }
    }
    let workflow = out.text("github-actions/support-bot.yml");
    let staging = workflow.find("deploy support-bot to staging").unwrap();
    let rest = &workflow[staging..];
    let rolled = rest
        .find("kubectl rollout status deployment/support-bot-stable -n llm-staging")
        .unwrap();
    let traffic = rest
        .find("modelops apply support-bot --env staging --state stable")
        .unwrap();
    let retire = rest.find("Retire the candidate tracks").unwrap();
    assert!(rolled < traffic && traffic < retire, "{rest}");
}

/// One driver per project: under a controller flavor the traffic targets only a
/// pipeline can walk are refused with MO905, in `check` and `compile` alike.
#[test]
fn a_second_driver_is_refused() {
    let dir = example_under("argo-rollouts");
    let path = dir.path().join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}target \"nginx\"\n")).unwrap();
    for command in ["check", "compile"] {
        let run = modelops_in(dir.path(), &[command]);
        assert_eq!(run.code, 1, "{command}: {}", run.stderr);
        assert!(run.stderr.contains("MO905"), "{command}: {}", run.stderr);
        assert!(
            run.stderr.contains("flavor=\"deployment\""),
            "{}",
            run.stderr
        );
    }
}
