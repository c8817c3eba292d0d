//! The builder pool: depot-core's [`BuilderProvider`] over a list of [`Builder`]s.
//!
//! A build gets one builder of its architecture with a free slot, preferring the builder that
//! last ran a build of the same project (its cache is warm there), and a client certificate
//! minted for it. Asking again returns the same builder and certificate; releasing frees the
//! slot and makes the builder refuse the certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use depot_core::server::builders::{
    ActiveBuilder, BuilderConnection, BuilderError, BuilderProvider, BuilderRequest,
};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{Builder, BuilderCa};

/// How long a build waiting for a free builder is told to wait before asking again.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Builders handed out to builds, one build per slot.
#[derive(Debug)]
pub struct BuilderPool {
    ca: Arc<BuilderCa>,
    builders: Vec<Arc<dyn Builder>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Builds holding (or being given) a builder.
    leases: HashMap<String, Lease>,
    /// The builder that last served each project.
    affinity: HashMap<String, usize>,
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
        Self {
            ca,
            builders,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for a build holding a builder (`Pending` while it is being prepared or
    /// while none is free), or a slot newly reserved for it.
    fn lease(&self, request: &BuilderRequest) -> Leased<'_> {
        let pending = BuilderConnection::Pending {
            retry_after: RETRY_AFTER,
        };
        let mut state = self.state();
        if let Some(lease) = state.leases.get(&request.build_id) {
            return Leased::Answer(match &lease.answer {
                Some(answer) => BuilderConnection::Active(answer.clone()),
                None => pending,
            });
        }
        let mut load = vec![0; self.builders.len()];
        for lease in state.leases.values() {
            load[lease.builder] += 1;
        }
        let free = |index: usize| {
            let builder = &self.builders[index];
            builder.arches().contains(&request.arch) && load[index] < builder.concurrency()
        };
        let preferred = state
            .affinity
            .get(&request.project_id)
            .copied()
            .filter(|&index| free(index));
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
            request.build_id.clone(),
            Lease {
                builder,
                answer: None,
            },
        );
        Leased::Reserved(Reserved {
            pool: self,
            build_id: request.build_id.clone(),
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
        let certificate = self
            .ca
            .client_certificate(&request.build_id, request.expires_at)
            .map_err(|e| BuilderError::Unavailable(e.to_string()))?;
        let answer = ActiveBuilder {
            endpoint: builder.endpoint().to_owned(),
            server_name: builder.server_name().to_owned(),
            client_cert: Some(certificate.pair),
            ca_cert_pem: Some(self.ca.cert_pem().to_owned()),
        };
        let mut state = self.state();
        let Some(lease) = state.leases.get_mut(&request.build_id) else {
            return Err(BuilderError::Unavailable(format!(
                "build {} was released while its builder was being prepared",
                request.build_id
            )));
        };
        lease.answer = Some(answer.clone());
        state
            .affinity
            .insert(request.project_id.clone(), reserved.builder);
        builder.admit(&request.build_id, certificate.fingerprint);
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
    build_id: String,
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
            .get(&self.build_id)
            .is_some_and(|lease| lease.answer.is_none())
        {
            state.leases.remove(&self.build_id);
        }
    }
}

impl BuilderProvider for BuilderPool {
    fn connect(
        &self,
        request: BuilderRequest,
    ) -> BoxFuture<'_, Result<BuilderConnection, BuilderError>> {
        async move {
            if !self
                .builders
                .iter()
                .any(|builder| builder.arches().contains(&request.arch))
            {
                return Err(BuilderError::Unsupported(format!(
                    "no builder here builds for linux/{}",
                    request.arch.as_str()
                )));
            }
            match self.lease(&request) {
                Leased::Answer(answer) => Ok(answer),
                Leased::Reserved(reserved) => self.prepare(reserved, &request).await,
            }
        }
        .boxed()
    }

    fn release(&self, build_id: &str) -> BoxFuture<'_, ()> {
        let lease = self.state().leases.remove(build_id);
        if let Some(lease) = lease {
            self.builders[lease.builder].evict(build_id);
        }
        futures_util::future::ready(()).boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use depot_core::server::builders::BuilderArch;

    use super::*;
    use crate::server::Fingerprint;

    /// A builder that is always ready and records who holds it.
    #[derive(Debug)]
    struct Slots {
        endpoint: String,
        arches: Vec<BuilderArch>,
        concurrency: usize,
        admitted: Mutex<Vec<String>>,
    }

    impl Slots {
        fn new(port: u16, arch: BuilderArch, concurrency: usize) -> Arc<Self> {
            Arc::new(Self {
                endpoint: format!("tcp://127.0.0.1:{port}"),
                arches: vec![arch],
                concurrency,
                admitted: Mutex::default(),
            })
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
        fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
            futures_util::future::ready(Ok(())).boxed()
        }
        fn admit(&self, build_id: &str, _: Fingerprint) {
            self.admitted.lock().unwrap().push(build_id.to_owned());
        }
        fn evict(&self, build_id: &str) {
            self.admitted.lock().unwrap().retain(|b| b != build_id);
        }
    }

    fn request(build: &str, project: &str, arch: BuilderArch) -> BuilderRequest {
        BuilderRequest {
            build_id: build.into(),
            project_id: project.into(),
            arch,
            expires_at: SystemTime::now() + Duration::from_secs(600),
        }
    }

    async fn endpoint_of(pool: &BuilderPool, build: &str, project: &str) -> Option<String> {
        match pool
            .connect(request(build, project, BuilderArch::Amd64))
            .await
            .unwrap()
        {
            BuilderConnection::Active(active) => Some(active.endpoint),
            BuilderConnection::Pending { retry_after } => {
                assert_eq!(retry_after, RETRY_AFTER);
                None
            }
        }
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
        pool.release("b").await;
        assert_eq!(endpoint_of(&pool, "c", "p").await.unwrap(), one.endpoint());
        // Full: p's next build goes elsewhere; then nothing is free.
        assert_eq!(endpoint_of(&pool, "d", "p").await.unwrap(), two.endpoint());
        assert_eq!(endpoint_of(&pool, "e", "r").await.unwrap(), two.endpoint());
        assert_eq!(endpoint_of(&pool, "f", "r").await, None);
        pool.release("a").await;
        assert!(one.admitted.lock().unwrap().iter().all(|b| b != "a"));
        assert_eq!(endpoint_of(&pool, "f", "r").await.unwrap(), one.endpoint());
        // Releasing twice, or a build holding nothing, does nothing.
        pool.release("a").await;
        pool.release("never").await;

        // arm64 has its own builder; nothing builds for another arch in an amd64-only pool.
        let arm_build = pool
            .connect(request("g", "p", BuilderArch::Arm64))
            .await
            .unwrap();
        assert!(matches!(arm_build, BuilderConnection::Active(a) if a.endpoint == arm.endpoint()));
        let amd_only = BuilderPool::new(pool.ca.clone(), vec![one.clone()]);
        assert!(matches!(
            amd_only
                .connect(request("h", "p", BuilderArch::Arm64))
                .await,
            Err(BuilderError::Unsupported(_))
        ));
    }
}
