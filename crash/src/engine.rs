//! The Docker engine that `ci/docker.sh up` started: reached through `DOCKER_HOST`, used
//! through testcontainers, and through the bollard client it re-exports for the one thing
//! testcontainers cannot do: SIGKILL. (`ci/docker.sh up` sweeps leftover containers.)

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::KillContainerOptionsBuilder;

use crate::HarnessError;

/// The image `ci/docker.sh up` builds from the pinned nats-server, tagged with its version.
pub const NATS_IMAGE: &str = "leaf-nats";

/// The version `ci/nats-server.pin` pins: the tag of [`NATS_IMAGE`].
pub fn nats_image_tag() -> &'static str {
    include_str!("../../ci/nats-server.pin")
        .lines()
        .find_map(|line| line.strip_prefix("version "))
        .map_or("missing-from-the-pin", str::trim)
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects and checks that the engine answers and holds the local image. Fails with what
    /// to do, never skips: a crash suite that silently did not run proves nothing.
    pub async fn connect() -> Result<Self, HarnessError> {
        let host = std::env::var("DOCKER_HOST").map_err(|_| {
            HarnessError::Docker(
                "DOCKER_HOST is not set: run the crash suites with `make test-crash` (or `make test`), \
                 which starts a private Docker engine with ci/docker.sh"
                    .into(),
            )
        })?;
        let docker =
            Docker::connect_with_unix(&host, 120, testcontainers::bollard::API_DEFAULT_VERSION)
                .map_err(|e| HarnessError::Docker(format!("cannot use {host}: {e}")))?;
        docker.version().await.map_err(|e| {
            HarnessError::Docker(format!(
                "no Docker engine answers on {host} ({e}): run `ci/docker.sh up` or `make test-crash`"
            ))
        })?;
        let image = format!("{NATS_IMAGE}:{}", nats_image_tag());
        // testcontainers would try to pull a missing image, and no registry is reachable.
        docker.inspect_image(&image).await.map_err(|e| {
            HarnessError::Docker(format!(
                "image {image} is missing ({e}): `ci/docker.sh up` builds it"
            ))
        })?;
        Ok(Self { docker })
    }

    /// kill -9 of the container's PID 1, which is nats-server itself.
    pub async fn sigkill(&self, id: &str) -> Result<(), HarnessError> {
        self.docker
            .kill_container(
                id,
                Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
            )
            .await
            .map_err(|e| HarnessError::Docker(format!("SIGKILL {id}: {e}")))
    }
}
