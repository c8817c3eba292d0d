//! The [`Fleet`]: a builder instance per project and architecture, each a Docker Engine with
//! its own persistent state (so its own BuildKit cache, which no other project's build can
//! reach), behind an mTLS bridge of its own.
//!
//! - **On demand.** A project's first build starts its instance (a cold start: the build waits,
//!   `Pending`, until the engine answers); later builds reuse it while it runs, up to the
//!   project's builds per builder at once.
//! - **Scale out.** When all of a project's instances of an architecture are that busy, the next
//!   build starts another (up to the project's maximum), with a state of its own (cold at
//!   first: copying a running instance's state is not safe).
//! - **Cache policy.** After each build the project's policy is applied and the cache measured
//!   (`upkeep`); a build that failed on a damaged cache has it emptied.
//! - **Idle stop.** An instance with no build for the idle timeout is stopped; its state stays
//!   on disk, so the next start has the cache.
//! - **Bounded.** At most `max_engines` run at once: to start another, the least recently used
//!   idle one is stopped; with none idle, builds wait.
//! - **Cache reset.** [`Fleet::reset_project`] stops the project's instances and deletes their
//!   state; the next build is cold. With builds running, that happens when the last one ends,
//!   and new builds wait for it.
//! - **Shutdown.** [`Fleet::shutdown`] stops every instance; stale ones a killed server left
//!   are cleaned when the fleet is made.
//! - **Isolated builds** (forks' pull requests) get an ephemeral instance each: fresh state,
//!   one build, deleted when the build ends, so it neither sees the project's cache nor leaves
//!   anything in it.
//!
//! Architectures the host cannot build go to the fleet's other builders (a [`BuilderPool`] of
//! remote buildkitd endpoints). An architecture none of those has either runs on the project's
//! host-architecture instance (what BuildKit builds without emulation: COPY-only stages,
//! cross-compiling Dockerfiles), unless the fleet refuses other architectures.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use depot_control::builders::{
    ActiveBuilder, BuilderArch, BuilderConnection, BuilderError, BuilderProvider, BuilderRequest,
    CachePolicy, CacheUsage,
};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::inventory::{instance_dir_name, parse_instance_dir_name};
use super::upkeep::{self, Usage};
use super::{Engine, EngineError, Slots};
use crate::server::{
    Builder as _, BuilderCa, BuilderPool, LocalBuilder, LocalBuilderConfig, hand_out,
    released_meanwhile,
};

/// What [`Inner::choose`] decided for a build.
enum Choice {
    /// Run it on this instance.
    Run(Key, Arc<Running>),
    /// Ask again after this long.
    Wait(Duration),
    /// The instance it needs could not be started.
    Fail(String),
}

/// What ephemeral instances' directories start with.
const EPHEMERAL: &str = "ephemeral-";

/// How long a build waiting for its instance to start is told to wait before asking again.
const START_RETRY: Duration = Duration::from_millis(100);
/// How long a build waiting for a busy or stopping instance is told to wait.
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// Settings of a [`Fleet`].
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Where instances keep their state: `<dir>/<project>-<arch>/` (`engine/` is the engine's
    /// data root, `dockerd.log` its log).
    pub dir: PathBuf,
    /// The `dockerd` to run.
    pub dockerd: PathBuf,
    /// The host's engine slots.
    pub slots: Slots,
    /// The address instances' mTLS bridges listen on (each on a free port).
    pub listen: IpAddr,
    /// Host builds are told to connect to; default: the listen address.
    pub advertise_host: Option<String>,
    /// The name the bridges' certificates carry.
    pub server_name: String,
    /// How long an instance with no build keeps running.
    pub idle_timeout: Duration,
    /// How many instances run at once.
    pub max_engines: usize,
    /// Connections each instance's bridge serves at once, and its TLS handshake timeout.
    pub connection_limits: depot_control::http::ConnectionLimits,
    /// For tests on single-architecture machines only: architectures besides the host's whose
    /// instances are engines of this host all the same. They build what needs no emulation
    /// (COPY-only stages, cross-compiling Dockerfiles); real deployments use remote builders
    /// or hosts of those architectures.
    pub test_arches: Vec<BuilderArch>,
    /// Whether a build for an architecture no builder here has (neither an instance nor one of
    /// the other builders) is refused, rather than run on the host architecture's instance.
    pub refuse_other_arches: bool,
    /// Where the status of every solve on an instance is sent.
    pub status_tap: depot_control::builders::StatusTap,
}

/// A builder instance per project and architecture (see the module docs).
#[derive(Clone, Debug)]
pub struct Fleet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ca: Arc<BuilderCa>,
    config: FleetConfig,
    /// The architectures its instances build: the host's, and any `test_arches`.
    arches: Vec<BuilderArch>,
    others: BuilderPool,
    state: Mutex<State>,
    /// Woken whenever an instance's cache has been tidied after a build.
    tidied: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    instances: HashMap<Key, Instance>,
    /// Builds holding (or being given) an instance, per architecture (a multi-platform build
    /// holds one of each).
    leases: HashMap<(String, BuilderArch), Lease>,
    /// Why an instance failed to start, for the next build that asks for it.
    failures: HashMap<Key, String>,
    shutting_down: bool,
}

/// An instance's identity: its project and architecture, and for an ephemeral instance the
/// isolated build it is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    project: String,
    arch: BuilderArch,
    /// The isolated build (a fork's pull request) an ephemeral instance serves alone; its
    /// state is deleted when the build ends.
    build: Option<String>,
    /// 0 for the project's main instance of the architecture, 1… for those started when it
    /// was busy (each with a state of its own).
    index: u16,
}

#[derive(Debug)]
struct Instance {
    phase: Phase,
    builds: HashSet<String>,
    last_used: Instant,
    /// Its state is to be deleted once it has stopped (a cache reset).
    reset: bool,
    /// The project's cache policy, as its latest build brought it.
    policy: CachePolicy,
    /// Tidyings (policy, measurement) under way after builds.
    tidying: usize,
    /// The last measurement of its cache.
    usage: Option<Usage>,
}

impl Instance {
    fn new(phase: Phase) -> Self {
        Instance {
            phase,
            builds: HashSet::new(),
            last_used: Instant::now(),
            reset: false,
            policy: CachePolicy::default(),
            tidying: 0,
            usage: None,
        }
    }

    /// Running with nothing to do: no build, and no cache policy being applied (stopping the
    /// engine in the middle of a prune can leave records whose snapshots are gone).
    fn idle(&self) -> bool {
        self.builds.is_empty() && self.tidying == 0 && matches!(self.phase, Phase::Running(_))
    }
}

#[derive(Debug)]
enum Phase {
    Stopped,
    Starting,
    Running(Arc<Running>),
    Stopping,
}

/// A running instance: its engine and its mTLS bridge.
#[derive(Debug)]
struct Running {
    engine: tokio::sync::Mutex<Option<Engine>>,
    /// The engine's API socket.
    socket: PathBuf,
    bridge: LocalBuilder,
}

#[derive(Debug)]
struct Lease {
    key: Key,
    answer: Option<ActiveBuilder>,
}

impl Fleet {
    /// A fleet handing out instances of this host's architecture, with certificates from
    /// `ca`, and `others` for the architectures this host cannot build. Cleans the engines (and
    /// ephemeral state) a killed server left behind, and starts the idle reaper.
    pub fn new(
        ca: Arc<BuilderCa>,
        config: FleetConfig,
        others: BuilderPool,
    ) -> Result<Self, String> {
        let host = BuilderArch::host().ok_or_else(|| {
            format!(
                "per-project builders run on amd64 and arm64 hosts, not {}",
                std::env::consts::ARCH
            )
        })?;
        let mut arches = vec![host];
        for arch in &config.test_arches {
            if !arches.contains(arch) {
                arches.push(*arch);
            }
        }
        let cleaned = config.slots.clean_stale();
        if cleaned > 0 {
            tracing::info!(
                cleaned,
                "stopped builder engines a previous depot-server left"
            );
        }
        remove_ephemeral_leftovers(&config.dir);
        let fleet = Fleet {
            inner: Arc::new(Inner {
                ca,
                config,
                arches,
                others,
                state: Mutex::default(),
                tidied: tokio::sync::Notify::new(),
            }),
        };
        tokio::spawn(reap_idle(Arc::downgrade(&fleet.inner)));
        Ok(fleet)
    }

    /// Stops every instance (their state stays) and refuses new builds.
    pub async fn shutdown(&self) {
        let running: Vec<(Key, Arc<Running>)> = {
            let mut state = self.inner.state();
            state.shutting_down = true;
            let keys: Vec<Key> = state.instances.keys().cloned().collect();
            keys.into_iter()
                .filter_map(|key| {
                    let instance = state.instances.get_mut(&key)?;
                    match std::mem::replace(&mut instance.phase, Phase::Stopping) {
                        Phase::Running(running) => Some((key, running)),
                        other => {
                            instance.phase = other;
                            None
                        }
                    }
                })
                .collect()
        };
        let stops = running
            .into_iter()
            .map(|(key, running)| self.inner.clone().stop(key, running));
        futures_util::future::join_all(stops).await;
        // Instances still starting stop themselves when they are up.
        while self
            .inner
            .state()
            .instances
            .values()
            .any(|i| matches!(i.phase, Phase::Starting | Phase::Stopping))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Empties `project`'s build cache: its instances are stopped and their state deleted, now
    /// if they run no build, else when their last build ends (new builds wait). State left on
    /// disk by an earlier run is deleted too.
    pub async fn reset_project(&self, project: &str) -> Result<(), BuilderError> {
        let project = instance_name(project)?;
        let mut stops = Vec::new();
        let mut wipes = Vec::new();
        {
            let mut state = self.inner.state();
            for (key, instance) in state.instances.iter_mut() {
                if key.project != project || key.build.is_some() {
                    continue;
                }
                instance.reset = true;
                match &instance.phase {
                    Phase::Running(running) if instance.builds.is_empty() => {
                        stops.push((key.clone(), running.clone()));
                        instance.phase = Phase::Stopping;
                    }
                    Phase::Stopped => {
                        instance.phase = Phase::Stopping;
                        wipes.push(key.clone());
                    }
                    // Reset when its builds end, when it has started, or once it has stopped.
                    Phase::Running(_) | Phase::Starting | Phase::Stopping => {}
                }
            }
            // State an earlier run left on disk; kept from starting while it is deleted.
            for key in self.inner.keys_on_disk(&project) {
                if !state.instances.contains_key(&key) {
                    let mut instance = Instance::new(Phase::Stopping);
                    instance.reset = true;
                    state.instances.insert(key.clone(), instance);
                    wipes.push(key);
                }
            }
        }
        for (key, running) in stops {
            self.inner.clone().stop(key, running).await;
        }
        for key in wipes {
            self.inner.wipe(&key).await;
            if let Some(instance) = self.inner.state().instances.get_mut(&key) {
                instance.phase = Phase::Stopped;
                instance.reset = false;
                instance.usage = None;
            }
        }
        Ok(())
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn instance_dir(&self, key: &Key) -> PathBuf {
        self.config.dir.join(match &key.build {
            Some(build) => format!("{EPHEMERAL}{build}-{}", key.arch.as_str()),
            None => instance_dir_name(&key.project, key.arch, key.index),
        })
    }

    /// The instances of `project` whose state is on disk (from this run or an earlier one).
    fn keys_on_disk(&self, project: &str) -> Vec<Key> {
        let Ok(entries) = std::fs::read_dir(&self.config.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let (owner, arch, index) = parse_instance_dir_name(name.to_str()?)?;
                (owner == project).then(|| Key {
                    project: project.to_owned(),
                    arch,
                    build: None,
                    index,
                })
            })
            .collect()
    }

    /// The answer for `request`, reserving a slot of its project's instance (starting it if
    /// needed).
    async fn connect(
        self: Arc<Self>,
        request: BuilderRequest,
    ) -> Result<BuilderConnection, BuilderError> {
        let base = Key {
            project: instance_name(&request.project_id)?,
            arch: request.arch,
            build: request
                .isolated
                .then(|| instance_name(&request.build_id))
                .transpose()?,
            index: 0,
        };
        let (key, running) = {
            let mut state = self.state();
            if let Some(lease) = state.leases.get(&lease_key(&request)) {
                return Ok(match &lease.answer {
                    Some(answer) => BuilderConnection::Active(answer.clone()),
                    None => pending(START_RETRY),
                });
            }
            if state.shutting_down {
                return Err(BuilderError::Unavailable(
                    "depot-server is shutting down".into(),
                ));
            }
            match self.choose(&mut state, &request, base) {
                Choice::Run(key, running) => {
                    if let Some(instance) = state.instances.get_mut(&key) {
                        instance.builds.insert(request.build_id.clone());
                        instance.last_used = Instant::now();
                    }
                    state.leases.insert(
                        lease_key(&request),
                        Lease {
                            key: key.clone(),
                            answer: None,
                        },
                    );
                    (key, running)
                }
                Choice::Wait(retry_after) => return Ok(pending(retry_after)),
                Choice::Fail(problem) => return Err(BuilderError::Unavailable(problem)),
            }
        };
        self.admit(&request, &key, &running)
    }

    /// Which of the project's instances takes `request`: a running one with room (the main
    /// instance first, whose cache is the fullest), else a new one started (while the project
    /// has fewer than its maximum and the host has room), else none yet.
    fn choose(self: &Arc<Self>, state: &mut State, request: &BuilderRequest, base: Key) -> Choice {
        // An ephemeral instance runs its one isolated build.
        let (per_builder, most) = if base.build.is_some() {
            (1, 1)
        } else {
            (
                request.builds_per_builder.max(1),
                request.max_builders.max(1),
            )
        };
        let keys: Vec<Key> = (0..u16::try_from(most).unwrap_or(u16::MAX))
            .map(|index| Key {
                index,
                ..base.clone()
            })
            .collect();
        for key in &keys {
            let Some(instance) = state.instances.get_mut(key) else {
                continue;
            };
            instance.policy = request.cache_policy;
            if let Phase::Running(running) = &instance.phase
                && !instance.reset
                && instance.builds.len() < per_builder
            {
                return Choice::Run(key.clone(), running.clone());
            }
        }
        for key in &keys {
            if let Some(problem) = state.failures.remove(key) {
                return Choice::Fail(problem);
            }
        }
        let phase = |key: &Key| state.instances.get(key).map(|i| &i.phase);
        if keys
            .iter()
            .any(|key| matches!(phase(key), Some(Phase::Starting)))
        {
            return Choice::Wait(START_RETRY);
        }
        if keys
            .iter()
            .any(|key| matches!(phase(key), Some(Phase::Stopping)))
        {
            return Choice::Wait(BUSY_RETRY);
        }
        let Some(next) = keys
            .iter()
            .find(|key| matches!(phase(key), None | Some(Phase::Stopped)))
        else {
            return Choice::Wait(BUSY_RETRY);
        };
        if !self.make_room(state) {
            return Choice::Wait(BUSY_RETRY);
        }
        let instance = state
            .instances
            .entry(next.clone())
            .or_insert_with(|| Instance::new(Phase::Stopped));
        instance.phase = Phase::Starting;
        instance.policy = request.cache_policy;
        if next.index > 0 {
            tracing::info!(
                project = %next.project,
                index = next.index,
                "the project's builders are busy: starting another"
            );
        }
        tokio::spawn(self.clone().start(next.clone()));
        Choice::Wait(START_RETRY)
    }

    /// Mints the build's certificate and admits it to `running`'s bridge.
    fn admit(
        &self,
        request: &BuilderRequest,
        key: &Key,
        running: &Running,
    ) -> Result<BuilderConnection, BuilderError> {
        let (answer, fingerprint) = match hand_out(&self.ca, &running.bridge, request) {
            Ok(handed) => handed,
            Err(err) => {
                self.forget(request, key);
                return Err(err);
            }
        };
        let mut state = self.state();
        let Some(lease) = state.leases.get_mut(&lease_key(request)) else {
            return Err(released_meanwhile(request));
        };
        lease.answer = Some(answer.clone());
        running.bridge.admit(&request.build_id, fingerprint);
        Ok(BuilderConnection::Active(answer))
    }

    /// Drops a lease that never got its answer.
    fn forget(&self, request: &BuilderRequest, key: &Key) {
        let mut state = self.state();
        state.leases.remove(&lease_key(request));
        if let Some(instance) = state.instances.get_mut(key) {
            instance.builds.remove(&request.build_id);
        }
    }

    /// Whether another instance may start now; when the cap is reached, begins stopping the
    /// least recently used idle instance (the caller retries later).
    fn make_room(self: &Arc<Self>, state: &mut State) -> bool {
        let active = state
            .instances
            .values()
            .filter(|i| !matches!(i.phase, Phase::Stopped))
            .count();
        if active < self.config.max_engines {
            return true;
        }
        let idle = state
            .instances
            .iter()
            .filter(|(_, i)| i.idle())
            .min_by_key(|(_, i)| i.last_used)
            .map(|(key, _)| key.clone());
        if let Some(key) = idle
            && let Some(instance) = state.instances.get_mut(&key)
            && let Phase::Running(running) = std::mem::replace(&mut instance.phase, Phase::Stopping)
        {
            tracing::info!(
                project = %key.project,
                "stopping the least recently used idle builder to make room (--max-builders)"
            );
            tokio::spawn(self.clone().stop(key, running));
        }
        false
    }

    /// Starts `key`'s instance: a slot, its engine, its bridge.
    async fn start(self: Arc<Self>, key: Key) {
        let started = Instant::now();
        let result = self.launch(&key).await;
        let mut state = self.state();
        let stop_now = state.shutting_down || state.instances.get(&key).is_some_and(|i| i.reset);
        let Some(instance) = state.instances.get_mut(&key) else {
            return;
        };
        match result {
            Ok(running) => {
                tracing::info!(
                    project = %key.project,
                    arch = key.arch.as_str(),
                    endpoint = running.bridge.endpoint(),
                    elapsed = ?started.elapsed(),
                    "builder started"
                );
                let running = Arc::new(running);
                instance.last_used = Instant::now();
                if stop_now {
                    instance.phase = Phase::Stopping;
                    drop(state);
                    tokio::spawn(self.clone().stop(key, running));
                } else {
                    instance.phase = Phase::Running(running);
                }
            }
            Err(err) => {
                let problem = format!(
                    "the builder of project {} could not be started: {}",
                    key.project,
                    depot_core::ErrorChain(&err)
                );
                tracing::error!("{problem}");
                instance.phase = Phase::Stopped;
                state.failures.insert(key, problem);
            }
        }
    }

    async fn launch(&self, key: &Key) -> Result<Running, EngineError> {
        let slots = self.config.slots.clone();
        let slot = tokio::task::spawn_blocking(move || slots.claim())
            .await
            .map_err(|err| EngineError::Start {
                reason: format!("claiming a slot failed: {err}"),
                log: String::new(),
            })??;
        let dir = self.instance_dir(key);
        let engine = Engine::start(
            &self.config.dockerd,
            slot,
            &dir.join("engine"),
            &dir.join("dockerd.log"),
        )
        .await?;
        let bridge = LocalBuilder::start(
            &self.ca,
            LocalBuilderConfig {
                listen: SocketAddr::new(self.config.listen, 0),
                advertise_host: self.config.advertise_host.clone(),
                server_name: self.config.server_name.clone(),
                docker_socket: engine.socket().to_owned(),
                // The fleet, not the bridge, decides how many builds an instance takes (the
                // project's builds per builder).
                concurrency: 1,
                connection_limits: self.config.connection_limits.clone(),
                status_tap: self.config.status_tap.clone(),
            },
        )
        .await;
        match bridge {
            Ok(bridge) => Ok(Running {
                socket: engine.socket().to_owned(),
                engine: tokio::sync::Mutex::new(Some(engine)),
                bridge,
            }),
            Err(err) => {
                engine.stop().await;
                Err(EngineError::Start {
                    reason: depot_core::ErrorChain(&err).to_string(),
                    log: String::new(),
                })
            }
        }
    }

    /// Stops a running instance (marked `Stopping` by the caller); deletes its state if it
    /// was reset meanwhile.
    async fn stop(self: Arc<Self>, key: Key, running: Arc<Running>) {
        if let Some(engine) = running.engine.lock().await.take() {
            engine.stop().await;
        }
        drop(running);
        let reset = self.state().instances.get(&key).is_some_and(|i| i.reset);
        if reset {
            self.wipe(&key).await;
        }
        {
            let mut state = self.state();
            if key.build.is_some() {
                state.instances.remove(&key);
            } else if let Some(instance) = state.instances.get_mut(&key) {
                instance.phase = Phase::Stopped;
                instance.reset = false;
                if reset {
                    instance.usage = None;
                }
            }
        }
        tracing::info!(project = %key.project, reset, "builder stopped");
    }

    /// Deletes a stopped instance's state.
    async fn wipe(&self, key: &Key) {
        let dir = self.instance_dir(key);
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err((dir, err)),
            _ => Ok(()),
        })
        .await;
        if let Ok(Err((dir, err))) = removed {
            tracing::error!(dir = %dir.display(), %err, "deleting a builder's state failed");
        }
    }

    /// A build has ended: its slots (one per architecture it built) are free, and a reset
    /// waiting for it happens. A build that failed because the instance's cache is damaged
    /// (BuildKit lost a snapshot its records still name, which Docker Engine 26 can leave
    /// behind when a build or the engine is interrupted) has the instance reset, so that the
    /// project's later builds work.
    fn release(self: &Arc<Self>, build_id: &str, failure: Option<&str>) {
        let mut state = self.state();
        let held: Vec<(String, BuilderArch)> = state
            .leases
            .keys()
            .filter(|(build, _)| build == build_id)
            .cloned()
            .collect();
        for key in &held {
            if let Some(lease) = state.leases.remove(key) {
                self.end_lease(&mut state, build_id, lease, failure);
            }
        }
    }

    /// Frees the instance `lease` held for `build_id` (see [`Inner::release`]).
    fn end_lease(
        self: &Arc<Self>,
        state: &mut State,
        build_id: &str,
        lease: Lease,
        failure: Option<&str>,
    ) {
        let Some(instance) = state.instances.get_mut(&lease.key) else {
            return;
        };
        instance.builds.remove(build_id);
        instance.last_used = Instant::now();
        instance.usage.get_or_insert_default().last_used_ms = Some(now_ms());
        // An ephemeral instance goes with its build, state and all.
        instance.reset |= lease.key.build.is_some();
        if let Some(failure) = failure.filter(|failure| damaged_cache(failure)) {
            tracing::warn!(
                project = %lease.key.project,
                "a build failed on a damaged builder cache ({failure}): the builder's cache is \
                 emptied, so that the project's next builds work"
            );
            instance.reset = true;
        }
        if let Phase::Running(running) = &instance.phase {
            running.bridge.evict(build_id);
            let running = running.clone();
            if instance.reset && instance.builds.is_empty() {
                instance.phase = Phase::Stopping;
                tokio::spawn(self.clone().stop(lease.key, running));
            } else {
                instance.tidying += 1;
                let policy = instance.policy;
                tokio::spawn(self.clone().tidy(lease.key, running, policy));
            }
        }
    }

    /// Applies the project's cache policy to an instance after a build, and measures it.
    async fn tidy(self: Arc<Self>, key: Key, running: Arc<Running>, policy: CachePolicy) {
        let measured = upkeep::tidy(&running.socket, policy).await;
        drop(running);
        let saved = {
            let mut state = self.state();
            let shutting_down = state.shutting_down;
            let Some(instance) = state.instances.get_mut(&key) else {
                return;
            };
            instance.tidying -= 1;
            match measured {
                Ok((bytes, entries)) => {
                    let usage = instance.usage.get_or_insert_default();
                    (usage.bytes, usage.entries) = (bytes, entries);
                    Some(*usage)
                }
                // An engine stopping (reset, idle stop, shutdown) fails its tidying: expected.
                Err(problem) if shutting_down || !matches!(instance.phase, Phase::Running(_)) => {
                    tracing::debug!(
                        project = %key.project,
                        "the cache policy was not applied: the builder is stopping ({problem})"
                    );
                    None
                }
                Err(problem) => {
                    tracing::warn!(
                        project = %key.project,
                        "applying the cache policy after a build failed: {problem}"
                    );
                    None
                }
            }
        };
        if let Some(usage) = saved
            && let Err(err) = usage.save(&self.instance_dir(&key))
        {
            tracing::warn!(project = %key.project, %err, "keeping the cache's size failed");
        }
        self.tidied.notify_waiters();
    }

    /// What `project`'s instances cache, once the tidyings under way are done.
    async fn usage(&self, project: &str) -> Vec<CacheUsage> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let snapshot = loop {
            let tidied = self.tidied.notified();
            {
                let state = self.state();
                let busy = state
                    .instances
                    .iter()
                    .any(|(key, i)| key.project == project && key.build.is_none() && i.tidying > 0);
                if !busy || Instant::now() > deadline {
                    break self.snapshot(&state, project);
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), tidied).await;
        };
        let mut usage = Vec::new();
        for (mut entry, running) in snapshot {
            if let Some(running) = running
                && let Ok((bytes, entries)) = upkeep::measure(&running.socket).await
            {
                (entry.bytes, entry.entries) = (bytes, entries);
            }
            usage.push(entry);
        }
        usage
    }

    /// Each of `project`'s instances (known to this run, or left on disk by an earlier one):
    /// what is known of its cache, and the instance if it runs (to measure it live).
    fn snapshot(&self, state: &State, project: &str) -> Vec<(CacheUsage, Option<Arc<Running>>)> {
        let mut keys: Vec<Key> = state
            .instances
            .keys()
            .filter(|key| key.project == project && key.build.is_none())
            .cloned()
            .collect();
        for key in self.keys_on_disk(project) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys.sort_by_key(|key| (key.arch.as_str(), key.index));
        let mut snapshot = Vec::new();
        for key in keys {
            let dir = self.instance_dir(&key);
            let (state_name, builds, usage, running) = match state.instances.get(&key) {
                Some(instance) => {
                    let (name, running) = match &instance.phase {
                        Phase::Running(running) => ("running", Some(running.clone())),
                        Phase::Starting => ("starting", None),
                        Phase::Stopping => ("stopping", None),
                        Phase::Stopped => ("stopped", None),
                    };
                    let usage = instance.usage.or_else(|| Usage::load(&dir));
                    (name, instance.builds.len(), usage, running)
                }
                None => ("stopped", 0, Usage::load(&dir), None),
            };
            if usage.is_none() && running.is_none() {
                continue;
            }
            let usage = usage.unwrap_or_default();
            snapshot.push((
                CacheUsage {
                    arch: key.arch,
                    bytes: usage.bytes,
                    entries: usage.entries,
                    last_used: usage.last_used(),
                    state: state_name,
                    running_builds: builds,
                    index: key.index,
                },
                running,
            ));
        }
        snapshot
    }

    /// Stops the instances idle for longer than the idle timeout.
    fn stop_idle(self: &Arc<Self>) {
        let mut state = self.state();
        let timeout = self.config.idle_timeout;
        let idle: Vec<Key> = state
            .instances
            .iter()
            .filter(|(_, i)| i.idle() && i.last_used.elapsed() >= timeout)
            .map(|(key, _)| key.clone())
            .collect();
        for key in idle {
            if let Some(instance) = state.instances.get_mut(&key)
                && let Phase::Running(running) =
                    std::mem::replace(&mut instance.phase, Phase::Stopping)
            {
                tracing::info!(project = %key.project, "stopping an idle builder");
                tokio::spawn(self.clone().stop(key, running));
            }
        }
    }
}

/// Which lease a request is for: its build's, of its architecture.
fn lease_key(request: &BuilderRequest) -> (String, BuilderArch) {
    (request.build_id.clone(), request.arch)
}

/// Stops idle instances, as long as the fleet lives.
async fn reap_idle(fleet: std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = fleet.upgrade() else {
            return;
        };
        let every = (inner.config.idle_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        inner.stop_idle();
        drop(inner);
        tokio::time::sleep(every).await;
    }
}

/// Deletes the state of ephemeral instances a previous run could not (it was killed).
fn remove_ephemeral_leftovers(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(EPHEMERAL)
            && let Err(err) = std::fs::remove_dir_all(entry.path())
        {
            tracing::warn!(dir = %entry.path().display(), %err, "deleting a stale isolated builder failed");
        }
    }
}

/// Whether a build's failure says its builder's cache is damaged: a record whose snapshot is
/// gone (`parent snapshot … does not exist`, `failed to commit … snapshot … does not exist`).
fn damaged_cache(failure: &str) -> bool {
    failure.contains("snapshot") && failure.contains("does not exist")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn pending(retry_after: Duration) -> BuilderConnection {
    BuilderConnection::Pending { retry_after }
}

/// A project ID as it names an instance directory (IDs are letters and digits).
fn instance_name(project: &str) -> Result<String, BuilderError> {
    if !project.is_empty()
        && project.len() <= 64
        && project.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(project.to_owned())
    } else {
        Err(BuilderError::Unsupported(format!(
            "{project:?} is not a project ID a builder can be named after"
        )))
    }
}

impl BuilderProvider for Fleet {
    fn connect(
        &self,
        request: BuilderRequest,
    ) -> BoxFuture<'_, Result<BuilderConnection, BuilderError>> {
        let mut request = request;
        if !self.inner.arches.contains(&request.arch) {
            if self.inner.config.refuse_other_arches
                || self.inner.others.has_arch(request.arch, request.isolated)
            {
                return self.inner.others.connect(request);
            }
            tracing::info!(
                build = request.build_id,
                "no builder here builds for linux/{}: that platform runs on the project's \
                 linux/{} builder",
                request.arch.as_str(),
                self.inner.arches[0].as_str()
            );
            request.arch = self.inner.arches[0];
        }
        self.inner.clone().connect(request).boxed()
    }

    /// Frees what the build holds: its instances here, and the builders of other
    /// architectures it got from the pool.
    fn release(&self, build_id: &str, failure: Option<&str>) -> BoxFuture<'_, ()> {
        self.inner.release(build_id, failure);
        self.inner.others.release(build_id, failure)
    }

    fn reset_cache(&self, project_id: &str) -> BoxFuture<'_, Result<(), BuilderError>> {
        let project_id = project_id.to_owned();
        async move { self.reset_project(&project_id).await }.boxed()
    }

    fn cache_usage(
        &self,
        project_id: &str,
    ) -> BoxFuture<'_, Result<Vec<CacheUsage>, BuilderError>> {
        let project_id = project_id.to_owned();
        async move {
            let project = instance_name(&project_id)?;
            Ok(self.inner.usage(&project).await)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_caches_are_told_from_other_failures() {
        assert!(damaged_cache(
            "failed to prepare mzg as 0n1: parent snapshot mzg does not exist: not found"
        ));
        assert!(damaged_cache(
            "failed to commit abc: snapshot sha256:12 does not exist: not found"
        ));
        assert!(!damaged_cache(
            "process \"/bin/sh -c exit 3\" did not complete successfully"
        ));
        assert!(!damaged_cache(
            "failed to read dockerfile: open Dockerfile: does not exist"
        ));
    }

    #[test]
    fn project_ids_name_instances_and_nothing_else_does() {
        assert_eq!(instance_name("ky8eq4zu").unwrap(), "ky8eq4zu");
        for bad in ["", "../x", "a-b", "a/b"] {
            assert!(instance_name(bad).is_err(), "{bad:?}");
        }
    }
}
