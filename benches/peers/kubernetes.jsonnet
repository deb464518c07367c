// The peer of `modelops compile --target kubernetes` in benches/scale.sh: the same
// kind of manifests (a Service, a ConfigMap per track with the rendered prompt,
// parameters and release record, and an Argo Rollout with the canary steps) for
// every deployment, rendered by jsonnet from the resolved configuration that
// `modelops inspect --format json` prints. jsonnet gets the resolution for free;
// modelops parses, validates and resolves the repository first.
//
//   jsonnet -S -m OUT --tla-code-file config=resolved.json benches/peers/kubernetes.jsonnet
//
// (One file per deployment, named kubernetes-<environment>-<model>.yaml: `jsonnet -m`
// does not create folders.)
function(config)
  local labels(model, env) = {
    'app.kubernetes.io/name': model,
    'app.kubernetes.io/instance': model,
    'app.kubernetes.io/managed-by': 'jsonnet',
    'modelops.dev/environment': env,
  };
  local service(model, env, ns) = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: model, namespace: ns, labels: labels(model, env) },
    spec: {
      ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 'http' }],
      selector: { 'app.kubernetes.io/name': model },
    },
  };
  local configMap(model, env, ns, track) = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: model + '-' + std.substr(track.fingerprint, 0, 10),
      namespace: ns,
      labels: labels(model, env),
    },
    data: {
      'system-prompt.txt': track.system_prompt,
      'params.json': std.manifestJsonEx(track.params, '  ') + '\n',
      'release.json': std.manifestJsonEx({
        model: model,
        environment: env,
        release: track.release,
        release_blake3: track.release_hash,
        fingerprint: track.fingerprint,
        prompt: { blake3: track.prompt_hash },
      }, '  ') + '\n',
    },
  };
  local rollout(model, env, ns, deploy, tracks) = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: model, namespace: ns, labels: labels(model, env) },
    spec: {
      replicas: std.get(deploy, 'replicas', 1),
      selector: { matchLabels: { 'app.kubernetes.io/name': model } },
      strategy: if std.objectHas(deploy, 'canary') then {
        canary: {
          canaryService: model + '-canary',
          stableService: model + '-stable',
          steps: std.flattenArrays([
            [{ setWeight: step.weight }] + (if std.objectHas(step, 'pause') then [{ pause: { duration: step.pause } }] else [])
            for step in deploy.canary.step
          ]),
        },
      } else {
        blueGreen: { activeService: model + '-active', previewService: model + '-preview', autoPromotionEnabled: false },
      },
      template: {
        metadata: { labels: labels(model, env) + { 'modelops.dev/fingerprint': deploy.resolved.fingerprint } },
        spec: {
          containers: [{
            name: 'gateway',
            image: tracks[std.length(tracks) - 1].image,
            ports: [{ name: 'http', containerPort: 8080 }],
            volumeMounts: [{ name: 'modelops', mountPath: '/etc/modelops', readOnly: true }],
          }],
          volumes: [{ name: 'modelops', configMap: { name: model + '-' + std.substr(tracks[std.length(tracks) - 1].fingerprint, 0, 10) } }],
        },
      },
    },
  };
  {
    ['kubernetes-' + env + '-' + model + '.yaml']: (
      local deploy = config.model[model].deploy[env];
      local ns = std.get(config.environment[env], 'namespace', env);
      local tracks = [
        t { params: config.model[model].release[t.release].params, image: config.model[model].release[t.release].image }
        for t in deploy.resolved.tracks
      ];
      std.manifestYamlStream(
        [service(model, env, ns)]
        + [configMap(model, env, ns, t) for t in tracks]
        + [rollout(model, env, ns, deploy, tracks)],
        c_document_end=false,
      )
    )
    for model in std.objectFields(config.model)
    for env in std.objectFields(config.model[model].deploy)
  }
