//! Glue for the `client-session` interface (wit/session.wit): WIT records to the kernel's
//! session types and back. Every rule is in `mizan_kernel::session`.

use crate::exports::mizan::kernel::client_session as w;
use crate::{Kernel, R, err};
use mizan_kernel::session::{self as ks, ClientSession, SessionConfig};
use mizan_kernel::store::{RequestError, Status, instance_key};
use std::cell::RefCell;

/// One session behind a RefCell: a component instance is single-threaded; WIT methods take `&self`.
pub struct Session(RefCell<ClientSession>);

fn instance(r: w::InstanceRef) -> ks::InstanceRef {
    ks::InstanceRef { context: r.context, params_json: r.params_json }
}

fn instance_out(r: ks::InstanceRef) -> w::InstanceRef {
    w::InstanceRef { context: r.context, params_json: r.params_json }
}

fn event(e: w::Event) -> ks::Event {
    use ks::Event as E;
    match e {
        w::Event::Start(waiter) => E::Start(waiter),
        w::Event::Subscribe(r) => E::Subscribe(instance(r)),
        w::Event::Unsubscribe(key) => E::Unsubscribe(key),
        w::Event::Prefetch(r) => E::Prefetch(instance(r)),
        w::Event::Refetch(key) => E::Refetch(key),
        w::Event::View(r) => E::View(instance(r)),
        w::Event::Fetch(f) => E::Fetch(ks::FetchWait { waiter: f.waiter, instance: instance(f.instance), force: f.force }),
        w::Event::Call(c) => E::Call(ks::CallWait {
            waiter: c.waiter,
            function: c.function,
            args_json: c.args_json,
            optimistic_json: c.optimistic_json,
        }),
        w::Event::Cancel(waiter) => E::Cancel(waiter),
        w::Event::Answer(a) => E::Answer(ks::Answer {
            request: a.request,
            outcome: match a.outcome {
                w::Outcome::Http(h) => ks::Outcome::Http(ks::HttpAnswer { status: h.status, body: h.body, invalidate: h.invalidate }),
                w::Outcome::Decoded(d) => ks::Outcome::Decoded { body_json: d.body_json, invalidate: d.invalidate },
                w::Outcome::Unusable(why) => ks::Outcome::Unusable(why),
                w::Outcome::Failed(text) => ks::Outcome::Failed(text),
            },
        }),
        w::Event::Invalidate(text) => E::Invalidate(text),
        w::Event::Remove(text) => E::Remove(text),
        w::Event::Reset => E::Reset,
        w::Event::Hydrate(h) => E::Hydrate { payload_json: h.payload_json, held: h.held },
        w::Event::Tick => E::Tick,
        w::Event::Focus => E::Focus,
        w::Event::Online => E::Online,
        w::Event::Close => E::Close,
    }
}

fn request_error(e: ks::ErrorRecord) -> w::RequestError {
    w::RequestError {
        code: e.code,
        message: e.message,
        details_json: e.details_json,
        status: e.status,
        network: e.network,
        body_json: e.body_json,
    }
}

fn status(s: Status) -> w::Status {
    match s {
        Status::Idle => w::Status::Idle,
        Status::Loading => w::Status::Loading,
        Status::Success => w::Status::Success,
        Status::Error => w::Status::Error,
    }
}

fn operation(op: ks::Operation) -> w::Operation {
    match op {
        ks::Operation::Fetch { key, context, params_json, query } => w::Operation::Fetch(w::FetchOp { key, context, params_json, query }),
        ks::Operation::Call { function, args_json, csrf_token } => w::Operation::Call(w::CallOp { function, args_json, csrf_token }),
        ks::Operation::Session => w::Operation::Session,
    }
}

fn http_request(h: ks::HttpRequest) -> w::HttpRequest {
    w::HttpRequest {
        method: match h.method {
            ks::Method::Get => w::HttpMethod::Get,
            ks::Method::Post => w::HttpMethod::Post,
        },
        path: h.path,
        headers: h.headers,
        body: h.body,
    }
}

fn request(r: ks::Request) -> w::Request {
    w::Request {
        id: r.id,
        kind: match r.kind {
            ks::RequestKind::Fetch => w::RequestKind::Fetch,
            ks::RequestKind::Call => w::RequestKind::Call,
            ks::RequestKind::Session => w::RequestKind::Session,
        },
        http: r.http.map(http_request),
        op: r.op.map(operation),
        timeout_ms: r.timeout_ms,
    }
}

fn view(v: ks::View) -> w::View {
    w::View {
        key: v.key,
        instance: v.instance.map(instance_out),
        gone: v.gone,
        status: status(v.status),
        fetching: v.fetching,
        stale: v.stale,
        updated_at: v.updated_at,
        error: v.error.map(request_error),
        slots: v.slots,
        values: v.values,
    }
}

fn output(o: ks::Output) -> w::Output {
    w::Output {
        results: o.results.into_iter().map(|r| r.map_err(err)).collect(),
        requests: o.requests.into_iter().map(request).collect(),
        views: o.views.into_iter().map(view).collect(),
        settled: o
            .settled
            .into_iter()
            .map(|s| w::Settlement { waiter: s.waiter, outcome: s.outcome.map_err(request_error) })
            .collect(),
        timer: o.timer.map(|t| w::Timer { at_ms: t.at_ms, delay_ms: t.delay_ms }),
    }
}

impl w::Guest for Kernel {
    type Session = Session;

    fn instance_key(instance: w::InstanceRef) -> R<String> {
        let params = mizan_kernel::canon::parse_object(&instance.params_json, "params").map_err(err)?;
        Ok(instance_key(&instance.context, &params).0)
    }

    fn request_of(op: w::Operation) -> R<w::HttpRequest> {
        let op = match op {
            w::Operation::Fetch(f) => ks::Operation::Fetch { key: f.key, context: f.context, params_json: f.params_json, query: f.query },
            w::Operation::Call(c) => ks::Operation::Call { function: c.function, args_json: c.args_json, csrf_token: c.csrf_token },
            w::Operation::Session => ks::Operation::Session,
        };
        ks::request_of(op).map(http_request).map_err(err)
    }

    fn read_response(status: u16, body: String) -> Result<String, w::RequestError> {
        ks::read_response(status, &body)
            .map(|v| mizan_kernel::canon::json_text(&v))
            .map_err(|e: RequestError| request_error(ks::ErrorRecord::of(&e)))
    }
}

impl w::GuestSession for Session {
    fn create(config_json: Option<String>) -> R<w::Session> {
        let config = match config_json {
            Some(text) => SessionConfig::from_json(&text).map_err(err)?,
            None => SessionConfig::default(),
        };
        Ok(w::Session::new(Session(RefCell::new(ClientSession::new(config)))))
    }

    fn update(&self, events: Vec<w::Event>, now: u64) -> w::Output {
        output(self.0.borrow_mut().update(events.into_iter().map(event).collect(), now))
    }

    fn snapshot(&self, key: String, now: u64) -> Option<String> {
        self.0.borrow().store().snapshot(&key, now).map(|v| mizan_kernel::canon::json_text(&v))
    }

    fn dehydrate(&self) -> String {
        mizan_kernel::canon::json_text(&self.0.borrow().store().dehydrate())
    }

    fn instance_count(&self) -> u32 {
        u32::try_from(self.0.borrow().store().instance_count()).unwrap_or(u32::MAX)
    }

    fn idle(&self) -> bool {
        self.0.borrow().idle()
    }
}
