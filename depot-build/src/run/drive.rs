//! The task that runs a registered build to its end and releases its builder (on a builder
//! per architecture: [`fan_out`]).

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::steps::Step;
use super::{BuildOutput, BuildSpec, Error, Finished, fan_out, metadata, nodes};
use crate::builder::{BuildInfo, Builder, Outcome, platform_arch};
use crate::events::BuildEvent;

/// Connects, builds and releases; events go to `events` (ignored once nobody reads them).
pub(super) async fn drive(
    builder: Builder,
    spec: BuildSpec,
    events: UnboundedSender<BuildEvent>,
    cancel: CancellationToken,
) -> Finished {
    let send = |event: BuildEvent| {
        let _ = events.send(event);
    };
    let info = builder.info().clone();
    announce(&info, spec.show_build_url, &events);
    let nodes = nodes::plan(
        info.platform,
        &spec.options.platforms,
        spec.per_arch_builders,
    );
    if nodes.len() > 1 {
        return fan_out::drive(builder, spec, nodes, &events, cancel).await;
    }
    let mut builder = match connect(builder, &events, &cancel).await {
        Ok(builder) => builder,
        Err(finished) => return *finished,
    };

    let mut options = spec.options;
    let planned = builder
        .plan_outputs(spec.outputs, &spec.request)
        .and_then(|outputs| {
            options.outputs = outputs;
            builder.build(options)
        });
    let mut build = match planned {
        Ok(build) => build,
        Err(err) => {
            let outcome = Outcome::Error(depot_core::ErrorChain(&err).to_string());
            return release(builder, outcome, Err(Error::Plan(err))).await;
        }
    };
    let stopped = loop {
        tokio::select! {
            event = build.next() => match event {
                Some(event) => send(event),
                None => break false,
            },
            () = cancel.cancelled() => break true,
            () = builder.canceled() => break true,
        }
    };
    if stopped {
        // Dropping the build cancels it on the daemon.
        drop(build);
        return canceled(builder).await;
    }
    let result = build.result().await;
    let outcome = Outcome::of(&result);
    let output = match result {
        Ok(result) => Ok(BuildOutput {
            metadata: metadata::metadata(
                &result.exporter_response.raw,
                &info.build_id,
                &info.project_id,
            ),
            saved_tags: if spec.request.save || spec.request.load {
                info.additional_tags.clone()
            } else {
                Vec::new()
            },
            result,
            info,
            targets: Vec::new(),
        }),
        Err(err) => Err(Error::Build(err)),
    };
    release(builder, outcome, output).await
}

/// Reports the build's page as a step (`[depot] build: <url>`), when asked and the server
/// has one.
pub(super) fn announce(
    info: &BuildInfo,
    show_build_url: bool,
    events: &UnboundedSender<BuildEvent>,
) {
    if show_build_url && !info.build_url.is_empty() {
        let (step, started) = Step::start(format!("[depot] build: {}", info.build_url));
        let _ = events.send(started);
        let _ = events.send(step.done());
    }
}

/// Connects the builder of the build's platform, as a step (`[depot] connecting to amd64
/// builder`); a failure or cancellation releases the builder and is the build's end.
pub(super) async fn connect(
    mut builder: Builder,
    events: &UnboundedSender<BuildEvent>,
    cancel: &CancellationToken,
) -> Result<Builder, Box<Finished>> {
    let (connecting, started) = Step::start(format!(
        "[depot] connecting to {} builder",
        platform_arch(builder.info().platform)
    ));
    let _ = events.send(started);
    let connected = tokio::select! {
        connected = builder.connect() => connected.map(|_| ()),
        () = cancel.cancelled() => {
            let _ = events.send(connecting.failed("canceled"));
            return Err(Box::new(canceled(builder).await));
        }
    };
    if let Err(err) = connected {
        let message = depot_core::ErrorChain(&err).to_string();
        let _ = events.send(connecting.failed(&message));
        let outcome = Outcome::Error(message);
        return Err(Box::new(
            release(builder, outcome, Err(Error::Connect(err))).await,
        ));
    }
    let _ = events.send(connecting.done());
    Ok(builder)
}

/// Releases a canceled build.
pub(super) async fn canceled(builder: Builder) -> Finished {
    let error = Error::Canceled {
        build_id: builder.info().build_id.clone(),
        by_server: builder.is_canceled(),
    };
    release(builder, Outcome::Canceled, Err(error)).await
}

/// Releases the builder with `outcome` (`FinishBuild`).
pub(super) async fn release(
    builder: Builder,
    outcome: Outcome,
    output: Result<BuildOutput, Error>,
) -> Finished {
    Finished {
        release: builder.finish(outcome).await,
        outcome: output,
    }
}
