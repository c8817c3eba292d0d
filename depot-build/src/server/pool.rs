//! The builder pool: depot-core's [`BuilderProvider`] over a list of [`Builder`]s.
//!
//! A build gets one builder of its architecture with a free slot, preferring the builder that
//! last ran a build of the same project (its cache is warm there), and a client certificate
//! minted for it. Asking again returns the same builder and certificate; releasing frees the
//! slot and makes the builder refuse the certificate.
//!
//! Isolated builds (pull requests from forks) only run on the pool's isolated builders, and
//! trusted builds never do. An isolated builder runs one build at a time and its cache is
//! emptied ([`Builder::reset`]) after each one, before the next can start; one whose emptying
//! failed (or that has not been emptied since the pool started) is emptied again before its next
//! build, and refused to builds while that fails.
//!
//! A build for an architecture no builder here has runs that platform on a builder of this
//! host's architecture instead (BuildKit builds what needs no emulation there: COPY-only
//! stages, cross-compiling Dockerfiles), unless the pool [refuses other
//! architectures](BuilderPool::refusing_other_arches).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use depot_control::builders::{
    ActiveBuilder, BuilderArch, BuilderConnection, BuilderError, BuilderProvider, BuilderRequest,
};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{Builder, BuilderCa, hand_out, released_meanwhile};

/// How long a build waiting for a free builder is told to wait before asking again.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Builders handed out to builds, one build per slot.
#[derive(Debug)]
pub struct BuilderPool {
    ca: Arc<BuilderCa>,
    /// The trusted builders, then the isolated ones (from index `first_isolated` on).
    builders: Vec<Arc<dyn Builder>>,
    first_isolated: usize,
    /// Whether a build for an architecture no builder has is refused rather than run on a
    /// builder of the host's architecture.
    refuse_other_arches: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Builds holding (or being given) a builder, per architecture (a multi-platform build
    /// holds one of each).
    leases: HashMap<(String, BuilderArch), Lease>,
    /// The builder that last served each project.
    affinity: HashMap<String, usize>,
    /// Isolated builders whose cache is being emptied (busy until it is).
    resetting: HashSet<usize>,
    /// Isolated builders whose cache must be emptied before their next build.
    dirty: HashSet<usize>,
}

#[derive(Debug)]
struct Lease {
    /// Index into `builders`.
    builder: usize,
    /// The answer, once the builder is ready and the certificate minted.
    answer: Option<ActiveBuilder>,
}

impl BuilderPool {
    /// A pool of `builders`, with client certificates minted by `ca` (which must also be the
    /// CA the builders trust for clients).
    pub fn new(ca: Arc<BuilderCa>, builders: Vec<Arc<dyn Builder>>) -> Self {
        let first_isolated = builders.len();
        Self {
            ca,
            builders,
            first_isolated,
            refuse_other_arches: false,
            state: Arc::default(),
        }
    }

    /// Refuses builds for an architecture no builder here has, instead of running those
    /// platforms on a builder of the host's architecture.
    pub fn refusing_other_arches(mut self) -> Self {
        self.refuse_other_arches = true;
        self
    }

    /// Whether any builder here (isolated ones when `isolated`) builds for `arch`.
    pub fn has_arch(&self, arch: BuilderArch, isolated: bool) -> bool {
        (0..self.builders.len()).any(|index| {
            self.is_isolated(index) == isolated && self.builders[index].arches().contains(&arch)
        })
    }

    /// The architecture `request` runs on here: its own, or, when no builder has it and other
    /// architectures are not refused, the host's (if a builder has that).
    fn arch_for(&self, request: &BuilderRequest) -> BuilderArch {
        if self.refuse_other_arches || self.has_arch(request.arch, request.isolated) {
            return request.arch;
        }
        match BuilderArch::host() {
            Some(host) if self.has_arch(host, request.isolated) => {
                tracing::info!(
                    build = request.build_id,
                    "no builder here builds for linux/{}: that platform runs on a linux/{} builder",
                    request.arch.as_str(),
                    host.as_str()
                );
                host
            }
            _ => request.arch,
        }
    }

    /// Adds builders for isolated builds only. Their caches are emptied before their first
    /// build (a previous run may have left one behind).
    pub fn with_isolated(mut self, isolated: Vec<Arc<dyn Builder>>) -> Self {
        let state = Arc::get_mut(&mut self.state)
            .expect("the pool has not been shared yet")
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        state
            .dirty
            .extend(self.builders.len()..self.builders.len() + isolated.len());
        self.builders.extend(isolated);
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn is_isolated(&self, index: usize) -> bool {
        index >= self.first_isolated
    }

    /// Whether any builder could ever take `request` (its architecture and isolation).
    fn serves(&self, request: &BuilderRequest) -> bool {
        (0..self.builders.len()).any(|index| {
            self.is_isolated(index) == request.isolated
                && self.builders[index].arches().contains(&request.arch)
                && self.admits(index, request)
        })
    }

    /// Whether builder `index` may run `request`'s build: it belongs to the build's project or
    /// organization, or to no one (shared).
    fn admits(&self, index: usize, request: &BuilderRequest) -> bool {
        self.builders[index]
            .tenant()
            .is_none_or(|tenant| tenant.admits(request))
    }

    /// The answer for a build holding a builder (`Pending` while it is being prepared or
    /// while none is free), or a slot newly reserved for it.
    fn lease(&self, request: &BuilderRequest) -> Leased<'_> {
        let pending = BuilderConnection::Pending {
            retry_after: RETRY_AFTER,
        };
        let mut state = self.state();
        let key = (request.build_id.clone(), request.arch);
        if let Some(lease) = state.leases.get(&key) {
            return Leased::Answer(match &lease.answer {
                Some(answer) => BuilderConnection::Active(answer.clone()),
                None => pending,
            });
        }
        // A builder the build already holds that also builds this architecture serves it too,
        // with the same certificate (a builder admits one per build).
        let held = state.leases.iter().find_map(|((build, _), lease)| {
            (*build == request.build_id
                && self.builders[lease.builder]
                    .arches()
                    .contains(&request.arch))
            .then(|| lease.answer.clone())
            .flatten()
        });
        if let Some(answer) = held {
            return Leased::Answer(BuilderConnection::Active(answer));
        }
        let mut load = vec![0; self.builders.len()];
        for lease in state.leases.values() {
            load[lease.builder] += 1;
        }
        let free = |index: usize| {
            let builder = &self.builders[index];
            // An isolated builder runs one build at a time, and not while it is emptied.
            let capacity = if self.is_isolated(index) {
                usize::from(!state.resetting.contains(&index))
            } else {
                builder.concurrency()
            };
            self.is_isolated(index) == request.isolated
                && builder.arches().contains(&request.arch)
                && load[index] < capacity
                && self.admits(index, request)
        };
        let preferred = state
            .affinity
            .get(&request.project_id)
            .copied()
            .filter(|&index| !request.isolated && free(index));
        let chosen = preferred.or_else(|| {
            (0..self.builders.len())
                .filter(|&index| free(index))
                .max_by_key(|&index| {
                    // Most free slots first; the earliest builder among equals.
                    (
                        self.builders[index].concurrency() - load[index],
                        std::cmp::Reverse(index),
                    )
                })
        });
        let Some(builder) = chosen else {
            return Leased::Answer(pending);
        };
        state.leases.insert(
            key.clone(),
            Lease {
                builder,
                answer: None,
            },
        );
        Leased::Reserved(Reserved {
            pool: self,
            key,
            builder,
            kept: false,
        })
    }

    /// Prepares the reserved builder: checks it is usable, mints the build's certificate and
    /// admits it.
    async fn prepare(
        &self,
        mut reserved: Reserved<'_>,
        request: &BuilderRequest,
    ) -> Result<BuilderConnection, BuilderError> {
        let builder = self.builders[reserved.builder].clone();
        builder.ready().await.map_err(BuilderError::Unavailable)?;
        if self.state().dirty.contains(&reserved.builder) {
            builder.reset().await.map_err(|problem| {
                BuilderError::Unavailable(format!(
                    "the isolated builder {} could not empty its cache, so it takes no builds: \
                     {problem}",
                    builder.endpoint()
                ))
            })?;
            self.state().dirty.remove(&reserved.builder);
        }
        let (answer, fingerprint) = hand_out(&self.ca, builder.as_ref(), request)?;
        let mut state = self.state();
        let Some(lease) = state.leases.get_mut(&reserved.key) else {
            return Err(released_meanwhile(request));
        };
        lease.answer = Some(answer.clone());
        if !request.isolated {
            state
                .affinity
                .insert(request.project_id.clone(), reserved.builder);
        }
        builder.admit(&request.build_id, fingerprint);
        reserved.kept = true;
        Ok(BuilderConnection::Active(answer))
    }
}

/// What [`BuilderPool::lease`] found.
enum Leased<'a> {
    /// The answer to give.
    Answer(BuilderConnection),
    /// A slot to prepare.
    Reserved(Reserved<'a>),
}

/// A slot reserved for a build while its builder is prepared; given back if preparing fails
/// or is abandoned.
struct Reserved<'a> {
    pool: &'a BuilderPool,
    /// The build and architecture.
    key: (String, BuilderArch),
    builder: usize,
    kept: bool,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut state = self.pool.state();
        if state
            .leases
            .get(&self.key)
            .is_some_and(|lease| lease.answer.is_none())
        {
            state.leases.remove(&self.key);
        }
    }
}

impl BuilderProvider for BuilderPool {
    fn connect(
        &self,
        request: BuilderRequest,
    ) -> BoxFuture<'_, Result<BuilderConnection, BuilderError>> {
        async move {
            let request = BuilderRequest {
                arch: self.arch_for(&request),
                ..request
            };
            if !self.serves(&request) {
                let arch = request.arch.as_str();
                return Err(BuilderError::Unsupported(if request.isolated {
                    format!(
                        "this build is isolated (a pull request from a fork), and this server \
                         has no isolated builder for linux/{arch}: an operator adds one with \
                         depot-server --isolated-docker-host"
                    )
                } else if (0..self.builders.len()).any(|index| {
                    !self.is_isolated(index)
                        && self.builders[index].arches().contains(&request.arch)
                }) {
                    format!(
                        "no builder here for linux/{arch} belongs to project {} or its \
                         organization: the builders for linux/{arch} are assigned to other \
                         projects (an operator assigns one with --remote-builder \
                         'tcp://…?project={}')",
                        request.project_id, request.project_id
                    )
                } else if self.refuse_other_arches {
                    format!(
                        "no builder here builds for linux/{arch}, and this server does not run \
                         other architectures' platforms on its own (--strict-builder-arch): \
                         build for the architectures it has, or an operator adds a \
                         linux/{arch} builder with --remote-builder 'tcp://…?arch={arch}'"
                    )
                } else {
                    format!("no builder here builds for linux/{arch}")
                }));
            }
            match self.lease(&request) {
                Leased::Answer(answer) => Ok(answer),
                Leased::Reserved(reserved) => self.prepare(reserved, &request).await,
            }
        }
        .boxed()
    }

    fn release(&self, build_id: &str, _failure: Option<&str>) -> BoxFuture<'_, ()> {
        let mut state = self.state();
        let held: Vec<(String, BuilderArch)> = state
            .leases
            .keys()
            .filter(|(build, _)| build == build_id)
            .cloned()
            .collect();
        for key in held {
            let Some(lease) = state.leases.remove(&key) else {
                continue;
            };
            let index = lease.builder;
            self.builders[index].evict(build_id);
            if self.is_isolated(index) && state.resetting.insert(index) {
                tokio::spawn(reset_isolated(
                    self.builders[index].clone(),
                    index,
                    self.state.clone(),
                ));
            }
        }
        futures_util::future::ready(()).boxed()
    }

    /// The pool's builders are shared by every project, so what one project caches is not
    /// known apart from the others.
    fn cache_usage(
        &self,
        _project_id: &str,
    ) -> BoxFuture<'_, Result<Vec<depot_control::builders::CacheUsage>, BuilderError>> {
        futures_util::future::ready(Err(BuilderError::Unsupported(
            "this server's builders are shared by every project (--builder local, \
             --remote-builder): no project's cache is its own to measure"
                .into(),
        )))
        .boxed()
    }

    /// The pool's builders are shared by every project (isolated ones are emptied after each
    /// build anyway), so one project's cache cannot be emptied alone.
    fn reset_cache(&self, _project_id: &str) -> BoxFuture<'_, Result<(), BuilderError>> {
        let shared = self.first_isolated > 0;
        async move {
            if shared {
                return Err(BuilderError::Unsupported(
                    "this server's builders are shared by every project (--builder local, \
                     --remote-builder), so one project's cache cannot be emptied alone: run \
                     depot-server with per-project builders (--builder engines, the default)"
                        .into(),
                ));
            }
            Ok(())
        }
        .boxed()
    }
}

/// Empties an isolated builder's cache after a build; it takes no build until this is done,
/// and if it fails, it is tried again before the next one.
async fn reset_isolated(builder: Arc<dyn Builder>, index: usize, state: Arc<Mutex<State>>) {
    let reset = builder.reset().await;
    let mut state = lock(&state);
    state.resetting.remove(&index);
    if let Err(problem) = reset {
        tracing::warn!(
            builder = builder.endpoint(),
            "emptying the isolated builder's cache failed; trying again before its next build: \
             {problem}"
        );
        state.dirty.insert(index);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use depot_control::builders::{BuilderArch, Tenant};

    use super::*;
    use crate::server::Fingerprint;

    /// A builder that is always ready and records who holds it and how often its cache was
    /// emptied.
    #[derive(Debug)]
    struct Slots {
        endpoint: String,
        arches: Vec<BuilderArch>,
        concurrency: usize,
        admitted: Mutex<Vec<String>>,
        resets: AtomicUsize,
        reset_fails: AtomicBool,
        tenant: Option<Tenant>,
    }

    impl Slots {
        fn new(port: u16, arch: BuilderArch, concurrency: usize) -> Arc<Self> {
            Arc::new(Self {
                endpoint: format!("tcp://127.0.0.1:{port}"),
                arches: vec![arch],
                concurrency,
                admitted: Mutex::default(),
                resets: AtomicUsize::new(0),
                reset_fails: AtomicBool::new(false),
                tenant: None,
            })
        }

        fn owned_by(port: u16, tenant: Tenant) -> Arc<Self> {
            let mut slots = Arc::into_inner(Self::new(port, BuilderArch::Amd64, 4)).unwrap();
            slots.tenant = Some(tenant);
            Arc::new(slots)
        }

        fn resets(&self) -> usize {
            self.resets.load(Ordering::SeqCst)
        }
    }

    impl Builder for Slots {
        fn endpoint(&self) -> &str {
            &self.endpoint
        }
        fn server_name(&self) -> &str {
            "slots.test"
        }
        fn arches(&self) -> &[BuilderArch] {
            &self.arches
        }
        fn concurrency(&self) -> usize {
            self.concurrency
        }
        fn tenant(&self) -> Option<&Tenant> {
            self.tenant.as_ref()
        }
        fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
            futures_util::future::ready(Ok(())).boxed()
        }
        fn admit(&self, build_id: &str, _: Fingerprint) {
            self.admitted.lock().unwrap().push(build_id.to_owned());
        }
        fn evict(&self, build_id: &str) {
            self.admitted.lock().unwrap().retain(|b| b != build_id);
        }
        fn reset(&self) -> BoxFuture<'_, Result<(), String>> {
            self.resets.fetch_add(1, Ordering::SeqCst);
            let fails = self.reset_fails.load(Ordering::SeqCst);
            futures_util::future::ready(if fails {
                Err("disk on fire".into())
            } else {
                Ok(())
            })
            .boxed()
        }
    }

    fn request(build: &str, project: &str, arch: BuilderArch) -> BuilderRequest {
        BuilderRequest {
            build_id: build.into(),
            project_id: project.into(),
            org_id: "o".into(),
            arch,
            expires_at: SystemTime::now() + Duration::from_secs(600),
            isolated: false,
            cache_policy: Default::default(),
            builds_per_builder: 1,
            max_builders: 1,
        }
    }

    async fn endpoint_of(pool: &BuilderPool, build: &str, project: &str) -> Option<String> {
        answer_endpoint(
            pool.connect(request(build, project, BuilderArch::Amd64))
                .await
                .unwrap(),
        )
    }

    /// The endpoint of an isolated build's builder (`None` while it waits), or the error.
    async fn isolated_endpoint_of(
        pool: &BuilderPool,
        build: &str,
    ) -> Result<Option<String>, BuilderError> {
        let request = BuilderRequest {
            isolated: true,
            ..request(build, "p", BuilderArch::Amd64)
        };
        pool.connect(request).await.map(answer_endpoint)
    }

    fn answer_endpoint(answer: BuilderConnection) -> Option<String> {
        match answer {
            BuilderConnection::Active(active) => Some(active.endpoint),
            BuilderConnection::Pending { retry_after } => {
                assert_eq!(retry_after, RETRY_AFTER);
                None
            }
        }
    }

    /// Waits until `builder` has been emptied `count` times (resets after a build run in the
    /// background).
    async fn resets_reach(builder: &Slots, count: usize) {
        for _ in 0..1000 {
            if builder.resets() >= count {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("{} resets, expected {count}", builder.resets());
    }

    #[tokio::test]
    async fn isolated_builds_get_isolated_builders_one_at_a_time_emptied_between_builds() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(BuilderCa::open(dir.path()).unwrap());
        let trusted = Slots::new(1, BuilderArch::Amd64, 1);
        let isolated = Slots::new(2, BuilderArch::Amd64, 4);
        let pool = BuilderPool::new(ca.clone(), vec![trusted.clone()])
            .with_isolated(vec![isolated.clone()]);

        // Emptied before its first build; one isolated build at a time whatever its concurrency.
        let first = isolated_endpoint_of(&pool, "f1").await.unwrap();
        assert_eq!(first.as_deref(), Some(isolated.endpoint()));
        assert_eq!(isolated.resets(), 1);
        assert_eq!(isolated_endpoint_of(&pool, "f2").await.unwrap(), None);
        // Trusted builds never get it, even when their builders are full.
        assert_eq!(
            endpoint_of(&pool, "t1", "p").await.unwrap(),
            trusted.endpoint()
        );
        assert_eq!(endpoint_of(&pool, "t2", "p").await, None);

        // Released: emptied, then the next isolated build gets it (and nothing more is
        // emptied before it).
        pool.release("f1", None).await;
        resets_reach(&isolated, 2).await;
        let second = isolated_endpoint_of(&pool, "f2").await.unwrap();
        assert_eq!(second.as_deref(), Some(isolated.endpoint()));
        assert_eq!(isolated.resets(), 2);

        // A failed emptying is tried again before the next build, which waits for it.
        isolated.reset_fails.store(true, Ordering::SeqCst);
        pool.release("f2", None).await;
        resets_reach(&isolated, 3).await;
        let refused = isolated_endpoint_of(&pool, "f3").await.unwrap_err();
        assert!(refused.to_string().contains("disk on fire"), "{refused}");
        isolated.reset_fails.store(false, Ordering::SeqCst);
        let third = isolated_endpoint_of(&pool, "f3").await.unwrap();
        assert_eq!(third.as_deref(), Some(isolated.endpoint()));

        // A pool without isolated builders says how to add one.
        let plain = BuilderPool::new(ca, vec![trusted.clone()]);
        let unsupported = isolated_endpoint_of(&plain, "f4").await.unwrap_err();
        assert!(
            matches!(&unsupported, BuilderError::Unsupported(m) if m.contains("--isolated-docker-host")),
            "{unsupported}"
        );
    }

    #[tokio::test]
    async fn a_builder_assigned_to_a_tenant_never_runs_another_tenants_build() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(BuilderCa::open(dir.path()).unwrap());
        let web = Slots::owned_by(1, Tenant::Project("web".into()));
        let acme = Slots::owned_by(2, Tenant::Organization("acme".into()));
        let pool = BuilderPool::new(ca, vec![web.clone(), acme.clone()]);
        let ask = |build: &str, project: &str, org: &str| BuilderRequest {
            org_id: org.into(),
            ..request(build, project, BuilderArch::Amd64)
        };
        // Project web (of another organization) gets its own builder, though acme's is free.
        let answer = pool.connect(ask("a", "web", "other")).await.unwrap();
        assert_eq!(answer_endpoint(answer).as_deref(), Some(web.endpoint()));
        // Every project of acme gets acme's, however busy web's is not.
        for (build, project) in [("b", "api"), ("c", "docs")] {
            let answer = pool.connect(ask(build, project, "acme")).await.unwrap();
            assert_eq!(answer_endpoint(answer).as_deref(), Some(acme.endpoint()));
        }
        // A project of neither has no builder here, and is told why.
        let refused = pool.connect(ask("d", "blog", "else")).await.unwrap_err();
        assert!(
            matches!(&refused, BuilderError::Unsupported(m) if m.contains("belongs to project blog")),
            "{refused}"
        );
        assert_eq!(*web.admitted.lock().unwrap(), ["a"]);
        assert_eq!(*acme.admitted.lock().unwrap(), ["b", "c"]);
    }

    #[tokio::test]
    async fn builds_spread_out_keep_their_builder_and_return_to_their_project_cache() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(BuilderCa::open(dir.path()).unwrap());
        let (one, two) = (
            Slots::new(1, BuilderArch::Amd64, 2),
            Slots::new(2, BuilderArch::Amd64, 2),
        );
        let arm = Slots::new(3, BuilderArch::Arm64, 1);
        let pool = BuilderPool::new(ca, vec![one.clone(), two.clone(), arm.clone()]);

        // The least loaded builder first.
        let a = endpoint_of(&pool, "a", "p").await.unwrap();
        let b = endpoint_of(&pool, "b", "q").await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), (one.endpoint(), two.endpoint()));
        // Asking again: the same builder and the same certificate.
        let again = |build: &'static str| {
            let pool = &pool;
            async move {
                match pool
                    .connect(request(build, "p", BuilderArch::Amd64))
                    .await
                    .unwrap()
                {
                    BuilderConnection::Active(active) => active.client_cert.unwrap().cert_pem,
                    BuilderConnection::Pending { .. } => panic!("pending"),
                }
            }
        };
        assert_eq!(again("a").await, again("a").await);
        assert_eq!(*one.admitted.lock().unwrap(), ["a"]);

        // Project p goes back to builder one while it has room, even when two is emptier.
        pool.release("b", None).await;
        assert_eq!(endpoint_of(&pool, "c", "p").await.unwrap(), one.endpoint());
        // Full: p's next build goes elsewhere; then nothing is free.
        assert_eq!(endpoint_of(&pool, "d", "p").await.unwrap(), two.endpoint());
        assert_eq!(endpoint_of(&pool, "e", "r").await.unwrap(), two.endpoint());
        assert_eq!(endpoint_of(&pool, "f", "r").await, None);
        pool.release("a", None).await;
        assert!(one.admitted.lock().unwrap().iter().all(|b| b != "a"));
        assert_eq!(endpoint_of(&pool, "f", "r").await.unwrap(), one.endpoint());
        // Releasing twice, or a build holding nothing, does nothing.
        pool.release("a", None).await;
        pool.release("never", None).await;

        // arm64 has its own builder; nothing builds for another arch in an amd64-only pool.
        let arm_build = pool
            .connect(request("g", "p", BuilderArch::Arm64))
            .await
            .unwrap();
        assert!(matches!(arm_build, BuilderConnection::Active(a) if a.endpoint == arm.endpoint()));
        // A multi-platform build holds a builder of each architecture, and gives both back.
        for build in ["c", "d", "e", "f"] {
            pool.release(build, None).await;
        }
        let amd_for_g = endpoint_of(&pool, "g", "p").await;
        assert!(amd_for_g.is_some() && amd_for_g.as_deref() != Some(arm.endpoint()));
        pool.release("g", None).await;
        assert!(arm.admitted.lock().unwrap().iter().all(|b| b != "g"));
        assert!(
            [&one, &two]
                .iter()
                .all(|b| b.admitted.lock().unwrap().iter().all(|b| b != "g"))
        );
    }

    #[tokio::test]
    async fn an_architecture_without_builders_runs_on_the_hosts_unless_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(BuilderCa::open(dir.path()).unwrap());
        let host = BuilderArch::host().unwrap();
        let one = Slots::new(1, host, 2);
        let other = match host {
            BuilderArch::Amd64 => BuilderArch::Arm64,
            BuilderArch::Arm64 => BuilderArch::Amd64,
        };
        let pool = BuilderPool::new(ca.clone(), vec![one.clone()]);
        assert!(pool.has_arch(host, false) && !pool.has_arch(other, false));
        // Both platforms of a build run on the one builder, with one certificate, and one
        // slot: a second build still finds room.
        let cert = |connection: BuilderConnection| match connection {
            BuilderConnection::Active(active) => {
                assert_eq!(active.endpoint, one.endpoint());
                active.client_cert.unwrap().cert_pem
            }
            BuilderConnection::Pending { .. } => panic!("pending"),
        };
        let foreign = cert(pool.connect(request("a", "p", other)).await.unwrap());
        let native = cert(pool.connect(request("a", "p", host)).await.unwrap());
        assert_eq!(foreign, native);
        cert(pool.connect(request("b", "q", host)).await.unwrap());
        pool.release("a", None).await;
        assert!(one.admitted.lock().unwrap().iter().all(|b| b != "a"));

        let strict = BuilderPool::new(ca, vec![one.clone()]).refusing_other_arches();
        match strict.connect(request("c", "p", other)).await {
            Err(BuilderError::Unsupported(message)) => {
                assert!(message.contains("--strict-builder-arch"), "{message}")
            }
            answer => panic!("not refused: {answer:?}"),
        }
    }
}
