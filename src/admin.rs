//! The admin HTTP listener: `/metrics`, `/healthz`, `/readyz`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::metrics::metrics;
use crate::server::Gateway;
use crate::smtp::session::Phase;

/// Whether every upstream answered its last probe.
#[derive(Default)]
pub struct Readiness {
    upstreams_ok: AtomicBool,
}

/// Serves the admin endpoints on `listener` and probes the upstreams for `/readyz`.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) {
    let ready = Arc::new(Readiness::default());
    tokio::spawn(probe_loop(gateway.clone(), ready.clone()));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let gateway = gateway.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = respond(&req, &gateway, &ready);
                async move { Ok::<_, Infallible>(r) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                debug!(error = %e, "admin connection error");
            }
        });
    }
}

fn respond(
    req: &Request<hyper::body::Incoming>,
    gateway: &Gateway,
    ready: &Readiness,
) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics().render(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" => {
            if gateway.phase() != Phase::Running {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "draining\n".to_string(),
                )
            } else if ready.upstreams_ok.load(Ordering::Relaxed) {
                (StatusCode::OK, "text/plain", "ready\n".to_string())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "upstream not answering\n".to_string(),
                )
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn probe_loop(gateway: Arc<Gateway>, ready: Arc<Readiness>) {
    loop {
        let rt = gateway.runtime.load_full();
        let mut all_ok = true;
        for l in &rt.config.listeners {
            if let Err(e) = probe(&l.upstream.address).await {
                warn!(listener = %l.name, upstream = %l.upstream.address, error = %e, "upstream probe failed");
                all_ok = false;
            }
        }
        ready.upstreams_ok.store(all_ok, Ordering::Relaxed);
        tokio::time::sleep(rt.config.admin.probe_interval.get()).await;
    }
}

/// Connects, expects a 220 greeting, says QUIT.
async fn probe(addr: &str) -> Result<(), String> {
    let run = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut r = BufReader::new(tcp);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
                return Err("closed before greeting".to_string());
            }
            if !line.starts_with("220") {
                return Err(format!("greeting: {}", line.trim_end()));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        let _ = r.get_mut().write_all(b"QUIT\r\n").await;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .map_err(|_| "timed out".to_string())?
}
