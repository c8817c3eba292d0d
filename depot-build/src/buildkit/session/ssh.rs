//! `moby.sshforward.v1.SSH`: SSH agent forwarding for `RUN --mount=type=ssh`. Each forwarded
//! connection is a byte stream relayed to the local agent's socket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse, ssh_server,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio_util::io::ReaderStream;
use tonic::{Request, Response, Status, Streaming};

/// The id used when `RUN --mount=type=ssh` names none.
pub const DEFAULT_SSH_ID: &str = "default";
/// Metadata key carrying the id on `ForwardAgent`.
const SSH_ID_KEY: &str = "buildkit.ssh.id";

/// An agent to forward: `--ssh default`, `--ssh default=$SSH_AUTH_SOCK` or `--ssh id=SOCKET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSpec {
    /// The id `RUN --mount=type=ssh,id=…` names.
    pub id: String,
    /// The agent's unix socket.
    pub socket: PathBuf,
}

impl FromStr for SshSpec {
    type Err = String;

    /// Parses `ID[=SOCKET]`; without a socket, `$SSH_AUTH_SOCK` is used. Private key files
    /// are not accepted: load them into an agent (`ssh-add`) and forward the agent.
    fn from_str(text: &str) -> Result<Self, String> {
        let (id, socket) = match text.split_once('=') {
            Some((id, socket)) => (id, PathBuf::from(socket)),
            None => {
                let socket = std::env::var_os("SSH_AUTH_SOCK").ok_or_else(|| {
                    format!("--ssh {text}: SSH_AUTH_SOCK is not set; start ssh-agent or give {text}=<agent socket>")
                })?;
                (text, PathBuf::from(socket))
            }
        };
        if id.is_empty() || id.contains(',') {
            return Err(format!(
                "invalid --ssh {text:?}: expected ID[=SOCKET], e.g. default=$SSH_AUTH_SOCK"
            ));
        }
        Ok(SshSpec {
            id: id.to_owned(),
            socket,
        })
    }
}

/// The session's SSH service.
pub(super) struct Ssh {
    pub(super) agents: HashMap<String, PathBuf>,
}

impl Ssh {
    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_SSH_ID } else { id };
        self.agents.get(id).ok_or_else(|| {
            Status::not_found(format!(
                "no SSH agent forwarded as {id:?}; pass --ssh {id}=<agent socket>"
            ))
        })
    }
}

#[tonic::async_trait]
impl ssh_server::Ssh for Ssh {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        let socket = self.socket(&request.into_inner().id)?;
        UnixStream::connect(socket).await.map_err(|err| {
            Status::unavailable(format!(
                "cannot reach the SSH agent at {}: {err}",
                socket.display()
            ))
        })?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = BoxStream<'static, Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(SSH_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(DEFAULT_SSH_ID)
            .to_owned();
        let socket = self.socket(&id)?;
        let agent = UnixStream::connect(socket).await.map_err(|err| {
            Status::unavailable(format!(
                "cannot reach the SSH agent at {}: {err}",
                socket.display()
            ))
        })?;
        let (from_agent, mut to_agent) = agent.into_split();
        let mut from_daemon = request.into_inner();
        tokio::spawn(async move {
            while let Some(Ok(message)) = from_daemon.next().await {
                if to_agent.write_all(&message.data).await.is_err() {
                    return;
                }
            }
            let _ = to_agent.shutdown().await;
        });
        let replies = ReaderStream::new(from_agent).map(|chunk| {
            chunk
                .map(|data| BytesMessage {
                    data: data.to_vec(),
                })
                .map_err(|err| Status::unavailable(format!("SSH agent connection failed: {err}")))
        });
        Ok(Response::new(replies.boxed()))
    }
}
