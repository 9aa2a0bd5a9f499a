"""The deploy files, checked with what runs here (issue 12 item 6). No
container engine and no cluster run on this machine or in CI, so nothing is
built or deployed; docs/operations.md ("What the deploy files are checked
against") says what is and is not covered. Needs no running service: it reads
files, runs `docker-compose config` and asks the binaries ($SLUICE_BIN) for
their settings, in a few seconds.

- docker-compose.yml: Debian 12's docker-compose (1.29) accepts it
  (`config`, no warning). 1.29 predates the Compose spec's top-level `name`,
  so a copy without that line is checked; its resolved output (anchors,
  merges and ${VAR:-default}s applied by compose itself) is what the other
  checks read.
- deploy/k8s/*.yaml: every document parses (python3-yaml) and has a kind and
  a name; every ConfigMap, Secret, Deployment and named port a manifest
  refers to is one of them.
- Settings: every variable compose or a manifest gives a Sluice process is
  one its `--help` lists (the config tables of ingest/main.c, persist/main.c,
  notify/main.c and lib/config.h), or a ${VAR} of the routing file that
  process loads (notify only: ingest reads the file's topics alone). Each
  ${VAR} of notify's routing file is given to it (notify stops at start
  otherwise). The listen address each process ends up with (image ENV, then
  the manifest, else its default) is the port its probes, healthcheck,
  containerPort and scrape annotation use.
- KEDA: each ScaledObject targets a Deployment, reads the lag of that
  process's consumer group (its effective SLUICE_*_GROUP) on exactly the
  topics it consumes (SLUICE_TOPIC_PREFIX + lib/collection.c's collections
  with a writer for persist, notify/main.c's topic for notify), resets like
  lib/kafka.c's consumer, and never asks for more replicas than ingest gives
  the topics partitions.
- deploy/Dockerfile: the binaries it copies are CMake targets it builds, the
  paths it copies exist and are not in .dockerignore, its ENV names are
  settings of a process in the image and point at what it installs, and every
  command in compose and the manifests names a binary the image has.
- deploy/k8s/02-routing-configmap.yaml holds deploy/routing.json as it is.

Each check returns its problems as sentences naming file, resource, process
and setting; CheckersCatchBreakage feeds them broken copies to show they
notice."""
import copy
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

import harness

ROOT = harness.ROOT
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
DOCKERIGNORE = os.path.join(ROOT, ".dockerignore")
K8S = os.path.join(ROOT, "deploy", "k8s")
ROUTING_JSON = os.path.join(ROOT, "deploy", "routing.json")
HELP_ROW = re.compile(r"^  ([A-Z][A-Z0-9_]*)\s+(.*?)\s*\(default: (.*)\)$")
ROUTING_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

try:
    import yaml  # Debian's python3-yaml (scripts/deps.sh)
except ImportError as e:  # pragma: no cover - a machine without scripts/deps.sh
    raise ImportError(f"{e}: run scripts/deps.sh (installs python3-yaml)") from e


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------- the sources

_SETTINGS = {}


def settings(process):
    """{name: default} from `<process> --help` (lib/config.c's
    config_print_help: the process's config table)."""
    if process not in _SETTINGS:
        exe = os.path.join(harness.BIN, process)
        if not os.access(exe, os.X_OK):
            raise AssertionError(f"{exe} is missing: build it first (make build-san)")
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30,
                             env={**os.environ, **harness.SAN_ENV})
        if out.returncode != 0:
            raise AssertionError(f"{exe} --help exited {out.returncode}: {out.stderr}")
        rows = {}
        for line in out.stdout.splitlines():
            m = HELP_ROW.match(line)
            if m:
                rows[m.group(1)] = "" if m.group(3) == "none" else m.group(3)
        if not rows:
            raise AssertionError(f"{exe} --help lists no setting:\n{out.stdout}")
        _SETTINGS[process] = rows
    return _SETTINGS[process]


def cmake_targets():
    text = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    return set(re.findall(r"add_executable\(\s*([A-Za-z0-9_.-]+)", text))


def collections():
    """[(name, has a persist writer)] from lib/collection.c's table."""
    text = open(os.path.join(ROOT, "lib", "collection.c")).read()
    table = text[text.index("collections[] = {"):]
    table = table[:table.index("};")]
    rows = re.findall(r"\{\s*\.name\s*=\s*\"([a-z0-9_]+)\"([^}]*)\}", table)
    if not rows:
        raise AssertionError("no row found in lib/collection.c's collections[]")
    return [(name, ".writer" in rest) for name, rest in rows]


def consumed_collections(process):
    """The collections a consumer reads: persist every one with a writer
    (persist/main.c subscribes to each), notify the one notify/main.c names."""
    if process == "sluice-persist":
        return sorted(name for name, writer in collections() if writer)
    if process == "sluice-notify":
        text = open(os.path.join(ROOT, "notify", "main.c")).read()
        names = re.findall(r"kafka_topic_name\([^;]*?\"([a-z0-9_]+)\",\s*false\)", text)
        if not names:
            raise AssertionError("notify/main.c names no topic (kafka_topic_name(..., false))")
        return sorted(set(names))
    return []


def consumer_reset_policy():
    text = open(os.path.join(ROOT, "lib", "kafka.c")).read()
    m = re.search(r"\"auto\.offset\.reset\",\s*\"([a-z]+)\"", text)
    if not m:
        raise AssertionError("lib/kafka.c sets no auto.offset.reset")
    return m.group(1)


def routing_vars(text):
    return set(ROUTING_VAR.findall(text))


def listen_setting(process):
    """The address setting a process serves its probes and /metrics on."""
    known = settings(process)
    for name in ("SLUICE_LISTEN", "SLUICE_ADMIN_LISTEN"):
        if name in known:
            return name
    return None


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


# ------------------------------------------------------------- the Dockerfile

def dockerfile_instructions(text):
    """[(stage index, INSTRUCTION, arguments)], continuations joined."""
    out, stage, pending = [], -1, ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, args = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, args.strip()))
    return out


def parse_dockerfile(text):
    ins = dockerfile_instructions(text)
    last = max(s for s, _, _ in ins)
    image = {"env": {}, "cmd": None, "copies": [], "runs": [], "stages": {}, "bin": set(),
             "installs": {}, "from": {}}
    for stage, word, args in ins:
        if word == "FROM":
            parts = args.split()
            if len(parts) == 3 and parts[1].upper() == "AS":
                image["stages"][parts[2]] = stage
            image["from"][stage] = parts[0]
        elif word == "ENV" and stage == last:
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                image["env"][name] = value
        elif word == "CMD" and stage == last:
            image["cmd"] = json.loads(args) if args.startswith("[") else shlex.split(args)
        elif word == "COPY":
            tokens = shlex.split(args)
            flags = {t.split("=", 1)[0]: t.split("=", 1)[1] for t in tokens if t.startswith("--")}
            paths = [t for t in tokens if not t.startswith("--")]
            copy_ = {"stage": stage, "from": flags.get("--from"), "src": paths[:-1], "dest": paths[-1]}
            image["copies"].append(copy_)
            if stage == last and copy_["dest"].rstrip("/") == "/usr/local/bin":
                image["bin"].update(os.path.basename(s) for s in copy_["src"])
        elif word == "RUN":
            image["runs"].append((stage, args))
            if "apt-get install" in args:
                words = re.findall(r"[a-z0-9][a-z0-9.+-]+", args.split("apt-get install", 1)[1].split("&&")[0])
                image["installs"].setdefault(stage, set()).update(w for w in words if w != "y")
    image["last"] = last
    return image


def check_dockerfile(image, dockerignore, where="deploy/Dockerfile"):
    problems = []
    targets = cmake_targets()
    built = set()
    for stage, args in image["runs"]:
        for m in re.finditer(r"--target((?:\s+[A-Za-z0-9_.-]+)+)", args):
            built.update(m.group(1).split())
    for t in sorted(built - targets):
        problems.append(f"{where}: builds --target {t}, which CMakeLists.txt does not define")
    ignore = [p.rstrip("/") for p in dockerignore.splitlines() if p.strip() and not p.startswith("#")]
    for c in image["copies"]:
        for src in c["src"]:
            if c["from"] is None:
                repo_path = src
            elif c["from"] in image["stages"]:
                # The build stage has the context at its WORKDIR /src; its
                # build/ tree is what cmake made there.
                if not src.startswith("/src/"):
                    problems.append(f"{where}: COPY --from={c['from']} {src}: not under /src")
                    continue
                repo_path = src[len("/src/"):]
                if repo_path.startswith("build/"):
                    binary = repo_path[len("build/"):]
                    if binary not in targets:
                        problems.append(f"{where}: copies {src}, but {binary} is not a CMake target")
                    elif binary not in built:
                        problems.append(f"{where}: copies {src}, but the cmake --build --target list "
                                        f"does not build {binary}")
                    continue
            else:
                continue  # another image's file
            if repo_path.rstrip("/") in (".", ""):
                continue
            if not os.path.exists(os.path.join(ROOT, repo_path)):
                problems.append(f"{where}: copies {src}, but {repo_path} is not in the repository")
            top = repo_path.split("/")[0]
            for pattern in ignore:
                if fnmatch.fnmatch(top, pattern) or fnmatch.fnmatch(repo_path.rstrip("/"), pattern):
                    problems.append(f"{where}: copies {src}, which .dockerignore ({pattern}) keeps "
                                    "out of the build context")
    if not image["bin"]:
        problems.append(f"{where}: the runtime stage copies no binary to /usr/local/bin")
    if not image["cmd"] or image["cmd"][0] not in image["bin"]:
        problems.append(f"{where}: CMD {image['cmd']} is not a binary the image has "
                        f"({sorted(image['bin'])})")
    known = {}
    for binary in image["bin"] & targets:
        for name in settings(binary):
            known.setdefault(name, []).append(binary)
    for name in image["env"]:
        if name not in known:
            problems.append(f"{where}: ENV {name} is a setting of no process in the image "
                            f"({', '.join(sorted(image['bin']))})")
    # The ENV paths are where the image put the files.
    dests = {}
    for c in image["copies"]:
        if c["stage"] == image["last"]:
            for src in c["src"]:
                dest = c["dest"]
                if dest.endswith("/") and not src.endswith("/"):
                    dest += os.path.basename(src)
                dests[dest.rstrip("/")] = src
    for name, value in image["env"].items():
        if name in ("SLUICE_SCHEMA_DIR", "SLUICE_ROUTING_FILE") and value.rstrip("/") not in dests:
            problems.append(f"{where}: ENV {name}={value}, but nothing is copied there "
                            f"(copied: {sorted(dests)})")
    return problems


def image_routing_source(image):
    """The repository file the image installs at its SLUICE_ROUTING_FILE."""
    target = image["env"].get("SLUICE_ROUTING_FILE")
    for c in image["copies"]:
        if c["stage"] == image["last"] and len(c["src"]) == 1:
            dest = c["dest"]
            if dest.endswith("/"):
                dest += os.path.basename(c["src"][0])
            if dest == target:
                return c["src"][0].removeprefix("/src/")
    return None


# ------------------------------------------------------------ settings checks

def check_process_env(where, process, given, routing_text, image_env, origins=None):
    """Problems with the variables `given` ({name: value}) to `process`: names
    it does not know, and ${VAR}s of its routing file it is not given.
    `routing_text` is the routing file the process loads, None when it reads
    none or only its topics."""
    problems = []
    known = settings(process)
    wanted = routing_vars(routing_text) if routing_text is not None else set()
    for name in sorted(given):
        if name in known or name in wanted:
            continue
        hint = ""
        if name in routing_vars(open(ROUTING_JSON).read()):
            hint = " (a ${VAR} of the routing file: only sluice-notify looks those up)"
        origin = f" (from {origins[name]})" if origins and name in origins else ""
        problems.append(f"{where}: gives {process} {name}{origin}, which it does not know (not in "
                        f"`{process} --help`){hint}")
    effective = {**image_env, **given}
    for name in sorted(wanted - set(effective)):
        problems.append(f"{where}: {process} loads a routing file naming ${{{name}}}, which it is "
                        "not given: it would stop at start")
    return problems


def effective(process, image_env, given, name):
    return given.get(name, image_env.get(name, settings(process).get(name)))


# ------------------------------------------------------------------- compose

def compose_config(text, workdir):
    """`docker-compose config` of `text` (without a top-level `name`): the
    resolved file, or raises with what compose said."""
    exe = shutil.which("docker-compose")
    if not exe:
        raise AssertionError("docker-compose is not installed: run scripts/deps.sh")
    path = os.path.join(workdir, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(re.sub(r"(?m)^name:.*\n", "", text))
    empty_env = os.path.join(workdir, "empty.env")
    open(empty_env, "w").close()
    # Only PATH and a throw-away HOME: the caller's SLACK_WEBHOOK_URL or a
    # developer's .env must not stand in for the file's own defaults.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir}
    out = subprocess.run([exe, "--project-directory", ROOT, "--env-file", empty_env, "-f", path,
                          "config"], capture_output=True, text=True, timeout=120, env=env, cwd=workdir)
    if out.returncode != 0 or re.search(r"WARN|ERROR", out.stderr):
        raise AssertionError(f"docker-compose config refused {rel(COMPOSE)} (exit {out.returncode}):\n"
                             f"{out.stderr.strip()}")
    return yaml.safe_load(out.stdout)


def compose_services(resolved, image):
    """[(service, process, environment)] for the services built from the Dockerfile."""
    out = []
    for name, svc in sorted(resolved.get("services", {}).items()):
        build = svc.get("build")
        if not build:
            continue
        if isinstance(build, str):
            build = {"context": build}
        command = svc.get("command") or image["cmd"]
        if isinstance(command, str):
            command = shlex.split(command)
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        out.append((name, command[0], {k: "" if v is None else str(v) for k, v in env.items()}))
    return out


def check_compose(resolved, image, where="docker-compose.yml"):
    problems = []
    services = resolved.get("services", {})
    routing = open(os.path.join(ROOT, image_routing_source(image) or "deploy/routing.json")).read()
    partitions = None
    for name, svc in sorted(services.items()):
        build = svc.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile")) \
                if isinstance(build, dict) else os.path.join(context, "Dockerfile")
            if os.path.realpath(context) != os.path.realpath(ROOT):
                problems.append(f"{where}: service {name} builds from {context}, not the repository root")
            if os.path.realpath(dockerfile) != os.path.realpath(DOCKERFILE):
                problems.append(f"{where}: service {name} builds {dockerfile}, not deploy/Dockerfile")
    for name, process, env in compose_services(resolved, image):
        svc = services[name]
        at = f"{where}: service {name}"
        if process not in image["bin"]:
            problems.append(f"{at}: runs {process}, which the image does not have ({sorted(image['bin'])})")
            continue
        reads = routing if process == "sluice-notify" else None
        problems += check_process_env(at, process, env, reads, image["env"])
        setting = listen_setting(process)
        port = port_of(effective(process, image["env"], env, setting))
        test = (svc.get("healthcheck") or {}).get("test") or []
        urls = [w for w in test if isinstance(w, str) and "://" in w]
        for url in urls:
            m = re.match(r"https?://[^/:]+:(\d+)/", url)
            if not m or int(m.group(1)) != port:
                problems.append(f"{at}: healthcheck {url}, but {process} listens on port {port} "
                                f"({setting})")
        if "curl" in test and "curl" not in image["installs"].get(image["last"], set()):
            problems.append(f"{at}: the healthcheck runs curl, which the image does not install")
        for mapping in svc.get("ports") or []:
            target = mapping.get("target") if isinstance(mapping, dict) else str(mapping).rsplit(":", 1)[-1]
            if int(str(target).split("/")[0]) != port:
                problems.append(f"{at}: publishes container port {target}, but {process} listens "
                                f"on {port} ({setting})")
        if "SLUICE_TOPIC_PARTITIONS" in settings(process):
            partitions = int(effective(process, image["env"], env, "SLUICE_TOPIC_PARTITIONS"))
    for name, process, env in compose_services(resolved, image):
        replicas = (services[name].get("deploy") or {}).get("replicas")
        if replicas and consumed_collections(process) and partitions and replicas > partitions:
            problems.append(f"{where}: service {name} has {replicas} replicas, more than the "
                            f"{partitions} partitions per topic ingest creates: the rest would idle")
    return problems


# ---------------------------------------------------------------- Kubernetes

def load_k8s():
    """[(file, document)] of every manifest, in file order."""
    docs = []
    for path in sorted(glob.glob(os.path.join(K8S, "*"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((rel(path), doc))
    return docs


def by_kind(docs, kind):
    return {d["metadata"]["name"]: (f, d) for f, d in docs if d.get("kind") == kind}


def check_k8s_shape(files):
    """Every file parses; every document has apiVersion, kind and a name."""
    problems, seen = [], {}
    for path in files:
        try:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problems.append(f"{rel(path)}: not YAML: {e}")
            continue
        if not docs:
            problems.append(f"{rel(path)}: holds no document")
        for d in docs:
            if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind") \
                    or not (d.get("metadata") or {}).get("name"):
                problems.append(f"{rel(path)}: a document without apiVersion, kind and metadata.name")
                continue
            key = (d["kind"], d["metadata"]["name"])
            if key in seen:
                problems.append(f"{rel(path)}: {key[0]}/{key[1]} is also in {seen[key]}")
            seen[key] = rel(path)
    return problems


def container_env(docs, container, where):
    """The variables a container is given ({name: value}), where each comes
    from ({name: "ConfigMap x in file"}), and the problems resolving them (a
    ConfigMap or Secret that is not in the manifests, a name given twice)."""
    configmaps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    env, source, problems = {}, {}, []

    def give(name, value, origin):
        if name in source:
            problems.append(f"{where}: {name} is given twice ({source[name]} and {origin}); "
                            "the later one wins silently")
        env[name], source[name] = value, origin

    for ref in container.get("envFrom") or []:
        if "configMapRef" in ref:
            name = ref["configMapRef"]["name"]
            if name not in configmaps:
                problems.append(f"{where}: envFrom ConfigMap {name}, which no manifest defines")
                continue
            for k, v in (configmaps[name][1].get("data") or {}).items():
                give(k, str(v), f"ConfigMap {name} in {configmaps[name][0]}")
        elif "secretRef" in ref:
            name = ref["secretRef"]["name"]
            if name not in secrets:
                problems.append(f"{where}: envFrom Secret {name}, which no manifest defines")
                continue
            s = secrets[name][1]
            for k, v in {**(s.get("data") or {}), **(s.get("stringData") or {})}.items():
                give(k, str(v), f"Secret {name} in {secrets[name][0]}")
    for e in container.get("env") or []:
        give(e["name"], str(e.get("value", "")), "env")
    return env, source, problems


def pod_routing_text(docs, pod_spec, container, image):
    """The routing file the container's process would load: a mounted
    ConfigMap's key at the image's SLUICE_ROUTING_FILE, else the image's copy."""
    target = image["env"].get("SLUICE_ROUTING_FILE")
    if not target:
        return None
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        mount = m["mountPath"].rstrip("/")
        if os.path.dirname(target) == mount and "configMap" in volumes.get(m["name"], {}):
            cm = by_kind(docs, "ConfigMap").get(volumes[m["name"]]["configMap"]["name"])
            return ((cm[1].get("data") or {}).get(os.path.basename(target))) if cm else None
    source = image_routing_source(image)
    return open(os.path.join(ROOT, source)).read() if source else None


def deployments(docs, image):
    """[(file, deployment, pod spec, container, process)] for the Sluice containers."""
    out = []
    for name, (f, d) in sorted(by_kind(docs, "Deployment").items()):
        spec = d["spec"]["template"]["spec"]
        for c in spec["containers"]:
            command = c.get("command") or c.get("args") or image["cmd"]
            out.append((f, d, spec, c, command[0]))
    return out


def check_k8s(docs, image):
    problems = []
    configmaps = by_kind(docs, "ConfigMap")
    deps = deployments(docs, image)
    partitions = None
    # Settings, listen ports, references.
    for f, d, spec, c, process in deps:
        at = f"{f}: Deployment {d['metadata']['name']}, container {c['name']}"
        if process not in image["bin"]:
            problems.append(f"{at}: runs {process}, which the image does not have ({sorted(image['bin'])})")
            continue
        env, origins, p = container_env(docs, c, at)
        problems += p
        routing = pod_routing_text(docs, spec, c, image) if process == "sluice-notify" else None
        problems += check_process_env(at, process, env, routing, image["env"], origins)
        labels = d["spec"]["template"]["metadata"].get("labels") or {}
        for k, v in (d["spec"]["selector"].get("matchLabels") or {}).items():
            if labels.get(k) != v:
                problems.append(f"{at}: selector {k}={v} does not match the pod template's labels")
        for v in spec.get("volumes") or []:
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problems.append(f"{at}: volume {v['name']} mounts ConfigMap {v['configMap']['name']}, "
                                "which no manifest defines")
        setting = listen_setting(process)
        port = port_of(effective(process, image["env"], env, setting))
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        if port not in ports.values():
            problems.append(f"{at}: {process} listens on {port} ({setting}), which is not a "
                            f"containerPort ({sorted(ports.values())})")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = (c.get(probe) or {}).get("httpGet")
            if not get:
                continue
            p_ = get["port"]
            number = ports.get(p_) if isinstance(p_, str) else p_
            if number is None:
                problems.append(f"{at}: {probe} uses port {p_!r}, which the container does not name")
            elif number != port:
                problems.append(f"{at}: {probe} probes port {number}, but {process} listens on "
                                f"{port} ({setting})")
        annotations = d["spec"]["template"]["metadata"].get("annotations") or {}
        if "prometheus.io/port" in annotations and int(annotations["prometheus.io/port"]) != port:
            problems.append(f"{at}: prometheus.io/port {annotations['prometheus.io/port']}, but "
                            f"{process} serves /metrics on {port} ({setting})")
        if "SLUICE_TOPIC_PARTITIONS" in settings(process):
            partitions = int(effective(process, image["env"], env, "SLUICE_TOPIC_PARTITIONS"))
    # Services and budgets select pods that exist, on ports they name.
    pods = [(d["spec"]["template"]["metadata"].get("labels") or {}, c) for _, d, _, c, _ in deps]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, (f, d) in sorted(by_kind(docs, kind).items()):
            selector = d["spec"].get("selector") or {}
            selector = selector.get("matchLabels", selector)
            matched = [c for labels, c in pods if all(labels.get(k) == v for k, v in selector.items())]
            if not matched:
                problems.append(f"{f}: {kind} {name} selects {selector}, which no Deployment's pods carry")
            for port in d["spec"].get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                names = {p.get("name") for c in matched for p in c.get("ports") or []}
                numbers = {p["containerPort"] for c in matched for p in c.get("ports") or []}
                if target not in names | numbers:
                    problems.append(f"{f}: {kind} {name} targets port {target!r}, which its pods do not have")
    problems += check_keda(docs, image, deps, partitions)
    return problems


def check_keda(docs, image, deps, partitions):
    problems = []
    reset = consumer_reset_policy()
    targets = {d["metadata"]["name"]: (f, d, spec, c, process) for f, d, spec, c, process in deps}
    for name, (f, so) in sorted(by_kind(docs, "ScaledObject").items()):
        at = f"{f}: ScaledObject {name}"
        ref = so["spec"]["scaleTargetRef"]
        if ref.get("kind", "Deployment") != "Deployment" or ref["name"] not in targets:
            problems.append(f"{at}: scales {ref.get('kind', 'Deployment')} {ref['name']}, which no "
                            "manifest defines")
            continue
        df, d, spec, c, process = targets[ref["name"]]
        if process not in image["bin"]:
            continue  # check_k8s has said so
        if "replicas" in d["spec"]:
            problems.append(f"{df}: Deployment {ref['name']} sets replicas, which every kubectl apply "
                            f"would reset under {at}")
        env, _, _ = container_env(docs, c, at)
        group_setting = next((s for s in settings(process) if s.endswith("_GROUP")), None)
        wanted_group = effective(process, image["env"], env, group_setting) if group_setting else None
        prefix = effective(process, image["env"], env, "SLUICE_TOPIC_PREFIX")
        wanted_topics = {prefix + c_ for c_ in consumed_collections(process)}
        if not wanted_topics:
            problems.append(f"{at}: scales {process}, which consumes no topic")
            continue
        seen = set()
        for i, t in enumerate(so["spec"].get("triggers") or []):
            if t.get("type") != "kafka":
                continue
            m = t.get("metadata") or {}
            tat = f"{at}, trigger {i} ({m.get('topic')})"
            if m.get("consumerGroup") != wanted_group:
                problems.append(f"{tat}: consumerGroup {m.get('consumerGroup')!r}, but {process} "
                                f"consumes as {wanted_group!r} ({group_setting})")
            if m.get("topic") not in wanted_topics:
                problems.append(f"{tat}: topic {m.get('topic')!r} is not one {process} consumes "
                                f"({', '.join(sorted(wanted_topics))})")
            seen.add(m.get("topic"))
            source = m.get("bootstrapServersFromEnv")
            if source and (source not in env or source != "SLUICE_KAFKA_BROKERS"):
                problems.append(f"{tat}: bootstrapServersFromEnv {source}, which is not the "
                                f"SLUICE_KAFKA_BROKERS the {process} container is given")
            if not source and not m.get("bootstrapServers"):
                problems.append(f"{tat}: no bootstrap servers")
            if m.get("offsetResetPolicy", "latest") != reset:
                problems.append(f"{tat}: offsetResetPolicy {m.get('offsetResetPolicy', 'latest')}, "
                                f"but the consumer's auto.offset.reset is {reset} (lib/kafka.c)")
        for topic in sorted(wanted_topics - seen):
            problems.append(f"{at}: no trigger reads the lag on {topic}, which {process} consumes: "
                            "a backlog there would not scale it")
        top = so["spec"].get("maxReplicaCount", 100)
        if partitions is not None and top > partitions:
            problems.append(f"{at}: maxReplicaCount {top}, more than the {partitions} partitions "
                            "per topic sluice-ingest creates (SLUICE_TOPIC_PARTITIONS): the rest would idle")
        if process == "sluice-notify" and so["spec"].get("minReplicaCount", 0) < 1:
            problems.append(f"{at}: minReplicaCount below 1: with no notify pod, pending retries "
                            "wait for the next request (Kafka shows no lag for them)")
    return problems


def routing_configmap_text(docs):
    cm = by_kind(docs, "ConfigMap").get("sluice-routing")
    return (cm[1].get("data") or {}).get("routing.json") if cm else None


# ----------------------------------------------------------------- the tests

def report(problems):
    return "\n  " + "\n  ".join(problems)


class DeployFiles(unittest.TestCase):
    def no_problems(self, problems):
        if problems:
            self.fail(f"{len(problems)} problem(s):{report(problems)}")

    @classmethod
    def setUpClass(cls):
        cls.image = parse_dockerfile(open(DOCKERFILE).read())
        cls.docs = load_k8s()
        cls.workdir = tempfile.mkdtemp(prefix="sluice-deploy-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def test_binaries_list_their_settings(self):
        for process in sorted(self.image["bin"]):
            self.assertIn("SLUICE_KAFKA_BROKERS", settings(process),
                          f"{process} --help: the common settings (lib/config.h)")

    def test_dockerfile(self):
        problems = check_dockerfile(self.image, open(DOCKERIGNORE).read())
        self.no_problems(problems)

    def test_compose_config_and_settings(self):
        resolved = compose_config(open(COMPOSE).read(), self.workdir)
        self.assertTrue(compose_services(resolved, self.image),
                        f"{rel(COMPOSE)}: no service built from deploy/Dockerfile")
        problems = check_compose(resolved, self.image)
        self.no_problems(problems)

    def test_k8s_manifests_parse(self):
        files = sorted(glob.glob(os.path.join(K8S, "*")))
        self.assertTrue(files, f"no manifest in {rel(K8S)}")
        problems = [f"{rel(p)}: not a .yaml file" for p in files if not p.endswith(".yaml")]
        problems += check_k8s_shape(files)
        self.no_problems(problems)

    def test_k8s_settings_references_and_keda(self):
        self.assertTrue(by_kind(self.docs, "ScaledObject"), "no KEDA ScaledObject in deploy/k8s")
        problems = check_k8s(self.docs, self.image)
        self.no_problems(problems)

    def test_routing_configmap_is_the_shipped_file(self):
        text = routing_configmap_text(self.docs)
        self.assertIsNotNone(text, "deploy/k8s: no ConfigMap sluice-routing with routing.json")
        self.assertEqual(text, open(ROUTING_JSON).read(),
                         "deploy/k8s/02-routing-configmap.yaml: routing.json differs from deploy/routing.json")
        json.loads(text)


class OperationsDoc(unittest.TestCase):
    def test_the_metrics_it_names_are_exported(self):
        """docs/operations.md tells what to alert on: each sluice_* metric it
        names is one a process exports (a name in their sources)."""
        exported, suffixes = set(), set()
        for d in ("ingest", "persist", "notify", "lib", "channels"):
            for path in glob.glob(os.path.join(ROOT, d, "*.c")):
                text = open(path).read()
                exported.update(re.findall(r"(sluice_[a-z_]+)", text))
                # Families a shared module names after its caller's prefix (lib/lag.c: "%s_lag").
                suffixes.update(re.findall(r'"%s_([a-z_]+)', text))
        exported |= {f"{n}_{s}" for n in list(exported) for s in suffixes}
        doc = open(os.path.join(ROOT, "docs", "operations.md")).read()
        named = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"`(sluice_[a-z_]+)", doc)}
        self.assertTrue(named, "docs/operations.md names no metric")
        missing = sorted(n for n in named if n not in exported)
        self.assertEqual(missing, [], "docs/operations.md names metrics no process exports")


class CheckersCatchBreakage(unittest.TestCase):
    """Each checker fed a broken copy names what broke: a green run above
    means the files are right, not that the checks look at nothing."""

    @classmethod
    def setUpClass(cls):
        cls.image = parse_dockerfile(open(DOCKERFILE).read())
        cls.docs = load_k8s()
        cls.workdir = tempfile.mkdtemp(prefix="sluice-deploy-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def broken(self, mutate):
        docs = copy.deepcopy(self.docs)
        mutate(docs)
        return check_k8s(docs, self.image)

    def named(self, problems, *words):
        hits = [p for p in problems if all(w in p for w in words)]
        self.assertTrue(hits, f"expected a problem naming {words}; got:{report(problems) if problems else ' none'}")

    def test_unknown_setting_in_a_configmap(self):
        def mutate(docs):
            by_kind(docs, "ConfigMap")["sluice-persist-config"][1]["data"]["SLUICE_BATCH_MAXIMUM"] = "1"
        self.named(self.broken(mutate), "deploy/k8s/20-persist-deployment.yaml", "sluice-persist",
                   "SLUICE_BATCH_MAXIMUM")

    def test_another_process_setting(self):
        def mutate(docs):
            by_kind(docs, "ConfigMap")["sluice-config"][1]["data"]["SLUICE_LISTEN"] = "0.0.0.0:8080"
        problems = self.broken(mutate)
        self.named(problems, "sluice-persist", "SLUICE_LISTEN")
        self.named(problems, "sluice-notify", "SLUICE_LISTEN")

    def test_channel_secret_given_to_ingest(self):
        def mutate(docs):
            c = by_kind(docs, "Deployment")["sluice-ingest"][1]["spec"]["template"]["spec"]["containers"][0]
            c["envFrom"].append({"secretRef": {"name": "sluice-notify-channels"}})
        self.named(self.broken(mutate), "sluice-ingest", "SLACK_WEBHOOK_URL", "only sluice-notify")

    def test_routing_var_not_given_to_notify(self):
        def mutate(docs):
            del by_kind(docs, "Secret")["sluice-notify-channels"][1]["stringData"]["SMTP_TO"]
        self.named(self.broken(mutate), "sluice-notify", "${SMTP_TO}", "stop at start")

    def test_probe_on_the_wrong_port(self):
        def mutate(docs):
            by_kind(docs, "ConfigMap")["sluice-notify-config"][1]["data"]["SLUICE_ADMIN_LISTEN"] = "0.0.0.0:9100"
        self.named(self.broken(mutate), "sluice-notify", "9100", "containerPort")

    def test_keda_on_the_wrong_group_and_missing_topic(self):
        def mutate(docs):
            so = by_kind(docs, "ScaledObject")["sluice-persist"][1]
            so["spec"]["triggers"] = so["spec"]["triggers"][:1]
            so["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "persist"
        problems = self.broken(mutate)
        self.named(problems, "ScaledObject sluice-persist", "consumerGroup 'persist'", "sluice-persist")
        self.named(problems, "ScaledObject sluice-persist", "sluice.recipes")

    def test_keda_topic_follows_the_prefix(self):
        def mutate(docs):
            by_kind(docs, "ConfigMap")["sluice-config"][1]["data"]["SLUICE_TOPIC_PREFIX"] = "prod."
        self.named(self.broken(mutate), "ScaledObject sluice-notify", "sluice.assistance", "prod.assistance")

    def test_keda_beyond_the_partitions(self):
        def mutate(docs):
            by_kind(docs, "ScaledObject")["sluice-notify"][1]["spec"]["maxReplicaCount"] = 12
        self.named(self.broken(mutate), "ScaledObject sluice-notify", "maxReplicaCount 12", "partitions")

    def test_missing_configmap(self):
        def mutate(docs):
            docs[:] = [(f, d) for f, d in docs if d["metadata"]["name"] != "sluice-ingest-config"]
        self.named(self.broken(mutate), "sluice-ingest", "ConfigMap sluice-ingest-config")

    def test_unknown_binary(self):
        def mutate(docs):
            c = by_kind(docs, "Deployment")["sluice-persist"][1]["spec"]["template"]["spec"]["containers"][0]
            c["command"] = ["sluice-persistd"]
        self.named(self.broken(mutate), "sluice-persistd", "image does not have")

    def test_yaml_that_does_not_parse(self):
        path = os.path.join(self.workdir, "bad.yaml")
        with open(path, "w") as f:
            f.write("kind: ConfigMap\nmetadata: {name: x\n")
        self.named(check_k8s_shape([path]), "not YAML")

    def test_dockerfile_copying_a_missing_binary(self):
        text = open(DOCKERFILE).read().replace("/src/build/sluice-notify", "/src/build/sluice-notifier")
        self.named(check_dockerfile(parse_dockerfile(text), open(DOCKERIGNORE).read()),
                   "sluice-notifier", "not a CMake target")

    def test_dockerfile_copying_a_missing_path(self):
        text = open(DOCKERFILE).read().replace("/src/deploy/routing.json", "/src/deploy/routes.json")
        self.named(check_dockerfile(parse_dockerfile(text), open(DOCKERIGNORE).read()),
                   "deploy/routes.json", "not in the repository")

    def test_compose_unknown_setting_and_top_level_name(self):
        text = open(COMPOSE).read()
        self.assertRegex(text, r"(?m)^x-sluice-env: &sluice-env\n")
        text = text.replace("x-sluice-env: &sluice-env\n", "x-sluice-env: &sluice-env\n  SLUICE_PG_URI: x\n")
        resolved = compose_config(text, self.workdir)
        problems = check_compose(resolved, self.image)
        for service in ("sluice-ingest", "sluice-persist", "sluice-notify"):
            self.named(problems, f"service {service}", "SLUICE_PG_URI")

    def test_compose_refuses_a_bad_file(self):
        text = open(COMPOSE).read().replace("services:\n", "services:\n  broken: {image: [1]}\n", 1)
        with self.assertRaisesRegex(AssertionError, "docker-compose config refused"):
            compose_config(text, self.workdir)


if __name__ == "__main__":
    unittest.main()
