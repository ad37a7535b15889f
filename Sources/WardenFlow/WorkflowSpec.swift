import WardenCore

/// `workflows:` and `models:`: graphs of steps started by events or webhooks, and the
/// OpenAI-compatible endpoints their `llm` steps call.
public struct FlowSpec: Sendable, Equatable {
    public var workflows: [String: WorkflowSpec]
    public var models: [String: ModelEndpointSpec]
    /// How many runs one node works on at once (`flow: { workers: N }`).
    public var workers: Int

    public init(workflows: [String: WorkflowSpec] = [:], models: [String: ModelEndpointSpec] = [:], workers: Int = 8) {
        self.workflows = workflows
        self.models = models
        self.workers = workers
    }

    /// The workflows `event` starts: those with a trigger it matches. Events a workflow
    /// published itself never start that workflow again.
    public func workflows(startedBy event: Event) -> [WorkflowSpec] {
        workflows.values.filter { w in
            event.source != "workflow:\(w.name)" && w.triggers.contains { $0.matches(event) }
        }.sorted { $0.name < $1.name }
    }
}

/// One workflow.
public struct WorkflowSpec: Sendable, Equatable {
    public var name: String
    public var triggers: [Trigger]
    /// In an order where every step comes after the steps it needs.
    public var steps: [StepSpec]
    /// For the whole run, waiting for a person included.
    public var timeout: Duration
    /// Of its jobs in the queue: higher first.
    public var priority: Int

    public init(
        name: String,
        triggers: [Trigger],
        steps: [StepSpec],
        timeout: Duration = .seconds(600),
        priority: Int = 0
    ) {
        self.name = name
        self.triggers = triggers
        self.steps = steps
        self.timeout = timeout
        self.priority = priority
    }

    public func step(_ name: String) -> StepSpec? { steps.first { $0.name == name } }

    /// What starts a run.
    public enum Trigger: Sendable, Equatable {
        /// Events of a type (`alert.firing`, `incident.*`), about `subject` when given.
        case event(type: String, subject: String?)
        /// Every event one of the spec's webhooks delivers.
        case hook(String)

        public func matches(_ e: Event) -> Bool {
            switch self {
            case .event(let type, let subject):
                return EventQuery.type(type, matches: e.type) && (subject == nil || subject == e.subject)
            case .hook(let name): return e.source == "hook:\(name)"
            }
        }
    }
}

/// One step of a workflow.
public struct StepSpec: Sendable, Equatable {
    public var name: String
    /// Steps that must be finished first. A step whose needs were all skipped is skipped too
    /// (its branch was not taken); one with at least one that succeeded runs (a join).
    public var needs: [String]
    /// Runs only when this holds; skipped otherwise.
    public var when: FlowCondition?
    /// For one attempt.
    public var timeout: Duration
    /// Attempts after the first, waiting `backoff`, doubling, between them.
    public var retries: Int
    public var backoff: Duration
    /// When every attempt failed: the output to go on with (status `fallback`), instead of failing the run.
    public var fallback: JSONValue?
    public var action: StepAction

    public init(
        name: String,
        needs: [String] = [],
        when: FlowCondition? = nil,
        timeout: Duration = .seconds(60),
        retries: Int = 0,
        backoff: Duration = .seconds(1),
        fallback: JSONValue? = nil,
        action: StepAction
    ) {
        self.name = name
        self.needs = needs
        self.when = when
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.fallback = fallback
        self.action = action
    }
}

/// What a step does.
public enum StepAction: Sendable, Equatable {
    /// A chat completion; its output is the answer's JSON, checked against `schema`.
    case llm(LLMCall)
    /// An HTTP(S) request; its output is `{status, body}` (the body as JSON when it is JSON).
    case http(HTTPCall)
    /// A program (arguments are templates); its output is `{code, output, outputs}`.
    case exec(CommandStep)
    /// A healing action on a service (the service is a template).
    case heal(HealKind, service: FlowTemplate)
    /// A sample written to the store, or a record kept as the run's result.
    case store(StoreWrite)
    /// An event on the bus (and so in the store).
    case publish(type: String, subject: FlowTemplate, payload: JSONValue)
    /// Waits for a person to approve (or reject) through the API or the CLI.
    case approve(message: FlowTemplate)
    /// Waits a while, without holding a worker.
    case wait(Duration)

    /// Whether the step finishes at once, in memory (a record, an event): it is saved once,
    /// done, and never retried.
    public var isInstant: Bool {
        switch self {
        case .store(.record), .publish: true
        default: false
        }
    }

    /// The kind's name, as the spec writes it.
    public var kind: String {
        switch self {
        case .llm: "llm"
        case .http: "http"
        case .exec: "exec"
        case .heal: "heal"
        case .store: "store"
        case .publish: "publish"
        case .approve: "approve"
        case .wait: "wait"
        }
    }
}

public enum HealKind: String, Sendable, Equatable, CaseIterable {
    case restart, start, stop, rebuild
}

public struct LLMCall: Sendable, Equatable {
    /// A name in `models:`.
    public var model: String
    public var system: FlowTemplate?
    public var prompt: FlowTemplate
    /// The answer must be a JSON value matching this (see ``JSONSchemaCheck``); nil: any JSON.
    public var schema: JSONValue?
    public var maxTokens: Int?

    public init(
        model: String,
        system: FlowTemplate? = nil,
        prompt: FlowTemplate,
        schema: JSONValue? = nil,
        maxTokens: Int? = nil
    ) {
        self.model = model
        self.system = system
        self.prompt = prompt
        self.schema = schema
        self.maxTokens = maxTokens
    }
}

public struct HTTPCall: Sendable, Equatable {
    public var url: FlowTemplate
    public var method: String
    public var headers: [String: FlowTemplate]
    /// Sent as JSON, filled from the context.
    public var body: JSONValue?
    /// Answers with these statuses succeed (2xx when empty).
    public var expect: [Int]
    public var caFile: String?

    public init(
        url: FlowTemplate,
        method: String = "POST",
        headers: [String: FlowTemplate] = [:],
        body: JSONValue? = nil,
        expect: [Int] = [],
        caFile: String? = nil
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.expect = expect
        self.caFile = caFile
    }
}

public enum StoreWrite: Sendable, Equatable {
    /// A sample of `series` (with labels) whose value is the template's number.
    case sample(series: String, labels: [String: String], value: FlowTemplate)
    /// A JSON record, filled from the context: the run's result.
    case record(JSONValue)
}

/// An OpenAI-compatible chat-completions endpoint (`models:`).
public struct ModelEndpointSpec: Sendable, Equatable {
    public var name: String
    /// The API base, such as `http://127.0.0.1:11434/v1` (`/chat/completions` is appended).
    public var url: String
    public var model: String
    public var token: Secret?
    /// For one request.
    public var timeout: Duration
    /// Requests in flight at most; more wait their turn.
    public var concurrency: Int
    /// When no answer came this soon, the same request also goes to `fallback` (or again to
    /// this endpoint), and the first good answer wins.
    public var hedgeAfter: Duration?
    /// Another endpoint to use when this one fails, is slow (hedging) or its circuit is open.
    public var fallback: String?
    /// Consecutive failures that open the circuit, and how long it stays open.
    public var breakerFailures: Int
    public var breakerCooldown: Duration
    public var caFile: String?

    public init(
        name: String,
        url: String,
        model: String,
        token: Secret? = nil,
        timeout: Duration = .seconds(30),
        concurrency: Int = 8,
        hedgeAfter: Duration? = nil,
        fallback: String? = nil,
        breakerFailures: Int = 5,
        breakerCooldown: Duration = .seconds(30),
        caFile: String? = nil
    ) {
        self.name = name
        self.url = url
        self.model = model
        self.token = token
        self.timeout = timeout
        self.concurrency = concurrency
        self.hedgeAfter = hedgeAfter
        self.fallback = fallback
        self.breakerFailures = breakerFailures
        self.breakerCooldown = breakerCooldown
        self.caFile = caFile
    }
}
