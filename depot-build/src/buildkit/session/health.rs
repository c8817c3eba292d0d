//! `grpc.health.v1.Health`: the daemon polls it for as long as the session lives and closes
//! the session when it fails, so it always answers `SERVING`.

use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
    health_check_response::ServingStatus, health_server,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use tonic::{Request, Response, Status};

/// The session's health service.
pub(super) struct Health;

fn serving() -> HealthCheckResponse {
    HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    }
}

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(serving()))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Ok(Response::new(HealthListResponse {
            statuses: [(String::new(), serving())].into_iter().collect(),
        }))
    }

    type WatchStream = BoxStream<'static, Result<HealthCheckResponse, Status>>;

    /// One `SERVING`, then nothing until the session ends: the status never changes.
    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let once = stream::once(async { Ok(serving()) });
        Ok(Response::new(once.chain(stream::pending()).boxed()))
    }
}
