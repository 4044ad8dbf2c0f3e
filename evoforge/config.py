"""Run configuration: pydantic models, YAML in, every key documented, unknown keys an error.

Precedence (highest first): command-line flags > ``--config FILE`` > the problem's
``config.yaml`` > the defaults below. :func:`resolve_config` merges the layers and
validates once; any problem becomes a :class:`ConfigError` carrying one readable line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from evoforge.registry import ARCHIVES, BACKENDS, FEATURES, OPERATORS, Registry


class ConfigError(ValueError):
    """A configuration problem, with a message fit to print as one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """``iterations: true`` is a mistake, not the number 1 (pydantic's lax mode)."""
        if isinstance(value, bool) and info.field_name is not None:
            accepted = _plain_types(cls.model_fields[info.field_name].annotation)
            if bool not in accepted and accepted & {int, float}:
                raise PydanticCustomError("boolean_for_number", "expected a number, not true/false")
        return value


def _plain_types(annotation: Any) -> set[Any]:
    """The types an annotation admits, through ``X | None`` and ``Optional``."""
    arguments = get_args(annotation)
    if get_origin(annotation) in (Union, UnionType) and arguments:
        return set().union(*(_plain_types(argument) for argument in arguments))
    return {annotation}


#: The longest evaluation and call timeouts, seconds (about 11 days): a wait on the
#: channel is a poll() in whole milliseconds, which a C int bounds at about 24 days.
_MAX_TIMEOUT_S = 1e6
#: The largest memory and file-size limits, MiB: in bytes they must fit a resource
#: limit (rlim_t, which Python passes as a signed 64-bit number).
_MAX_MIB = 10**12


class RunConfig(_Strict):
    """Budgets and concurrency of the run loop. The run stops at the first budget hit."""

    iterations: int = Field(200, ge=0, description="Children to propose and record.")
    max_evaluations: int | None = Field(
        None,
        ge=1,
        description="Stop after this many sandboxed evaluations, the seed's included "
        "(None: no limit).",
    )
    max_wall_time_s: float | None = Field(
        None, gt=0, description="Stop after this many seconds of wall time (None: no limit)."
    )
    target_score: float | None = Field(
        None, description="Stop as soon as the best score reaches this (None: never)."
    )
    workers: int = Field(2, ge=1, le=256, description="Evaluations kept in flight at once.")
    proposal_processes: int | None = Field(
        None,
        ge=0,
        le=256,
        description=(
            "Processes that run the symbolic operators and check children before "
            "evaluation, off the driver (None: as many as workers, at most one per CPU this "
            "process may use; 0: in the driver itself)."
        ),
    )
    log_mode: Literal["rich", "quiet", "jsonl"] = Field(
        "rich", description="rich: live progress; quiet: final line only; jsonl: one event a line."
    )
    simplify_best: bool = Field(
        True,
        description="Before the run ends, offer the best program one simplification pass "
        "(dead code removed, evaluated, kept only if it scores at least as well); one slot "
        "of the iteration and evaluation budgets is kept for it. When the best has nothing to "
        "simplify, ordinary children fill that slot, simplified before evaluation.",
    )


class EvaluatorConfig(_Strict):
    """The sandbox each candidate runs in, and the evaluation cascade."""

    timeout_s: float = Field(
        60.0,
        gt=0,
        le=_MAX_TIMEOUT_S,
        description="Wall-clock limit per evaluation (at most 1e6 s, about 11 days); kills the "
        "whole process group.",
    )
    cpu_time_s: float | None = Field(
        None,
        gt=0,
        le=1e12,
        description="CPU-seconds limit (RLIMIT_CPU, whole seconds: rounded up, at least 1; at "
        "most 1e12); None means 2 x timeout_s.",
    )
    memory_mb: int = Field(
        4096,
        ge=64,
        le=_MAX_MIB,
        description="Memory limit in MiB (64 to 1e12): RLIMIT_AS per process, the evaluation's "
        "memory cgroup where one is writable, and with template processes the size of its "
        "in-memory working directory (whose files count against it).",
    )
    max_file_size_mb: int = Field(
        64,
        ge=1,
        le=_MAX_MIB,
        description="Largest file a candidate may write (RLIMIT_FSIZE), MiB (1 to 1e12).",
    )
    max_output_bytes: int = Field(
        65536,
        ge=1024,
        description="Bytes of stdout and of stderr kept per evaluation (head and tail; the "
        "middle is dropped), and characters of each artifact (a cut one ends in a note of "
        "how much was cut).",
    )
    isolate_network: bool = Field(
        True, description="Run candidates in a new network namespace where the OS allows it."
    )
    isolate_filesystem: bool = Field(
        True,
        description="Run each side of an evaluation in a jail (mount, pid and user "
        "namespaces) that shows only the interpreter, what that side may read and its own "
        "working directory, where the OS allows it.",
    )
    call_timeout_s: float | None = Field(
        None,
        gt=0,
        le=_MAX_TIMEOUT_S,
        description="Isolated problems: the longest one call into the candidate may take "
        "before the evaluation fails (default: the whole timeout_s; at most 1e6 s).",
    )
    max_message_mb: int = Field(
        64, ge=1, description="Isolated problems: the largest message on the channel, MiB."
    )
    candidate_hidden_packages: list[str] = Field(
        default_factory=list,
        description="Isolated problems: installed packages (top-level import names) the "
        "candidate's jail covers with an empty directory, so that it can neither import "
        "them nor read their files (a package that ships the evaluator's data set).",
    )
    template_processes: bool = Field(
        True,
        description="Start each side's interpreter and jail once and fork a sealed child per "
        "evaluation (fast); off: a fresh process per evaluation.",
    )
    pass_env: list[str] = Field(
        default_factory=list,
        description="Environment variables passed to evaluations besides PATH, locale, TZ "
        "and TERM (all others are dropped; names or values that look like secrets never "
        "pass).",
    )
    static_check: bool = Field(
        True,
        description="Refuse, unevaluated, a model's child that uses a name it never defines "
        "where its parent does not (pyflakes); the symbolic operators check their own "
        "children that way whatever this says.",
    )
    cascade: bool = Field(
        True,
        description="Use evaluate_stage1/2/3 when the evaluator defines them (the "
        "shared-process form only: an isolated problem, a problem with splits or an evaluator "
        "with verify runs no cascade).",
    )
    cascade_thresholds: list[float] = Field(
        default_factory=lambda: [0.0, 0.0],
        description="Score a stage must reach for the next stage to run (one per boundary; "
        "where cascade applies).",
    )
    python: str | None = Field(
        None,
        min_length=1,
        description="Interpreter that runs the evaluator (None: the one running evoforge).",
    )
    backend: str = Field(
        "local",
        description="Where evaluations run: a registered evaluation backend "
        "(see the list at the end of this page).",
    )

    ray_address: str | None = Field(
        None,
        description="The ray backend: the cluster to join (auto, or HOST:PORT); None starts "
        "a local Ray instance.",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str, info: ValidationInfo) -> str:
        return _registered(BACKENDS, name, info)

    @field_validator("candidate_hidden_packages")
    @classmethod
    def _import_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a top-level import name (such as sklearn)")
        return names

    @field_validator("pass_env")
    @classmethod
    def _variable_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"{name!r} is not an environment variable name (letters, digits and _, "
                    "not starting with a digit)"
                )
        return names


class FeatureConfig(_Strict):
    """One MAP-Elites dimension.

    A registered feature (listed at the end of this page) or, for any other name, the
    evaluator's metric of that name.
    """

    name: str = Field(..., min_length=1, description="A registered feature or a metric name.")
    bins: int = Field(10, ge=1, le=1000, description="Number of bins along this dimension.")
    range: tuple[float, float] | None = Field(
        None, description="Fixed [low, high]; None adapts the range to the values seen."
    )

    @model_validator(mode="after")
    def _range_ordered(self) -> FeatureConfig:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range must have low < high, got {list(self.range)}")
        return self


class InspirationConfig(_Strict):
    """Which other programs an operator sees besides its parent."""

    policy: Literal["top", "diverse", "neighbours", "mixed"] = Field(
        "mixed",
        description="top: best elites; diverse: distinct cells; neighbours: adjacent cells; "
        "mixed: a share of each of the three (top first).",
    )
    count: int = Field(2, ge=0, le=32, description="Inspirations per proposal.")


ParentSource = Literal["seed", "elite", "explore", "tournament", "best", "pair"]
#: Where a parent can come from (the arms of the parent-source bandit).
PARENT_SOURCES: tuple[ParentSource, ...] = (
    "seed",
    "elite",
    "explore",
    "tournament",
    "best",
    "pair",
)


class ParentsConfig(_Strict):
    """Where each child's parent comes from.

    Adaptive (the default): every source is an arm of a bandit (the ``bandit`` section's
    policy) paid exactly like the operators, from the child's insert outcome. ``seed``:
    the seed program; ``elite``: a rank-weighted elite of the island; ``explore``: a
    random occupied cell; ``tournament``: a tournament winner; ``best``: the global best;
    ``pair``: an island elite shown with elites of the other islands as inspirations (what
    crossover mixes). Fixed: the three ``archive.*_rate`` shares, as before.
    """

    adaptive: bool = Field(
        True,
        description="Learn where parents come from (a bandit over the sources); false: "
        "the fixed exploitation/exploration/tournament rates.",
    )
    sources: list[ParentSource] = Field(
        default_factory=lambda: list(PARENT_SOURCES),
        description="The sources the bandit chooses among (adaptive only).",
    )

    @model_validator(mode="after")
    def _sources_unique(self) -> ParentsConfig:
        if not self.sources:
            raise ValueError("at least one parent source is needed")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError(f"parent sources must be unique, got {self.sources}")
        return self


class StagnationConfig(_Strict):
    """The response to an island that has stopped moving.

    Each island's diversity is the normalised entropy of the cells its last ``window``
    scored children landed in (1: all different, 0: all in one cell). When it falls below
    ``entropy_threshold`` and the island's best has not improved for ``patience``
    children, the island's selection pressure is lowered (its temperature multiplied by
    ``anneal_factor``, flattening the rank weights of ``elite`` and shrinking tournaments);
    an island already at ``max_temperature`` that still stagnates and does not hold the
    global best is restarted from the global elites. Improving resets the temperature.
    """

    enabled: bool = Field(True, description="Detect collapsed islands and respond.")
    window: int = Field(16, ge=2, le=1000, description="Recent scored children per island.")
    entropy_threshold: float = Field(
        0.5, ge=0, le=1, description="Normalised cell entropy below which diversity collapsed."
    )
    patience: int = Field(
        20, ge=1, description="Children on an island without a better best before acting."
    )
    anneal_factor: float = Field(
        2.0, gt=1, description="Temperature multiplier of one annealing step."
    )
    max_temperature: float = Field(
        4.0, ge=1, description="Temperature after which a stagnant island is restarted."
    )
    restart: bool = Field(
        True, description="Restart a stagnant island at max temperature from the global elites."
    )
    restart_elites: int = Field(
        4, ge=1, description="Global elites a restarted island starts from."
    )


class ArchiveConfig(_Strict):
    """Islands of MAP-Elites grids, migration, and parent selection."""

    kind: str = Field(
        "islands", description="The archive: a registered one (listed at the end of this page)."
    )
    num_islands: int = Field(4, ge=1, le=64, description="Independent sub-populations (islands).")
    features: list[FeatureConfig] = Field(
        default_factory=lambda: [
            FeatureConfig(name="complexity"),
            FeatureConfig(name="behaviour"),
        ],
        min_length=1,
        description="MAP-Elites dimensions (see FeatureConfig); at least one.",
    )
    neutral_drift: bool = Field(
        False,
        description=(
            "A child that ties its cell's elite on score and is no larger (AST nodes of its"
            " evolve blocks) takes the cell, so the search moves across plateaus"
            " (measured: benchmarks/results/neutral-drift-trial)."
        ),
    )
    migration_interval: int = Field(
        10, ge=1, description="Generations (children per island) between ring migrations."
    )
    migration_count: int = Field(2, ge=0, description="Elites each island sends to the next.")
    elite_size: int = Field(20, ge=1, description="Size of the global elite set.")
    exploitation_rate: float = Field(
        0.6, ge=0, le=1, description="Fixed parents: share of rank-weighted elites."
    )
    exploration_rate: float = Field(
        0.2, ge=0, le=1, description="Fixed parents: share of random occupied cells."
    )
    tournament_rate: float = Field(
        0.2, ge=0, le=1, description="Fixed parents: share of tournament winners."
    )
    tournament_size: int = Field(3, ge=2, description="Contestants per tournament selection.")
    inspirations: InspirationConfig = Field(default_factory=InspirationConfig)
    parents: ParentsConfig = Field(default_factory=ParentsConfig)
    stagnation: StagnationConfig = Field(default_factory=StagnationConfig)

    @field_validator("kind")
    @classmethod
    def _known_archive(cls, name: str, info: ValidationInfo) -> str:
        return _registered(ARCHIVES, name, info)

    @model_validator(mode="after")
    def _rates_sum(self) -> ArchiveConfig:
        total = self.exploitation_rate + self.exploration_rate + self.tournament_rate
        if total <= 0:
            raise ValueError("exploitation_rate + exploration_rate + tournament_rate must be > 0")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"feature names must be unique, got {names}")
        return self


class TuneConfig(_Strict):
    """The tune operator: perturb numeric literals in the evolve blocks."""

    sigma: float = Field(
        0.1,
        gt=0,
        description="Largest relative step scale for numeric literals (a move is the step "
        "times |x| times a standard normal draw, so one move may exceed it).",
    )
    step_decades: float = Field(
        5.0,
        ge=0,
        le=12,
        description="How many decades below sigma tune's step reaches: a quarter of the "
        "children draw it log-uniformly from [sigma x 10^-step_decades, sigma], the rest "
        "reuse a step that paid in the lineage, by its gain per try at its scale (sigma until "
        "one has, less often as tries at sigma fail); 0: always sigma.",
    )
    use_cma: bool = Field(
        True,
        description="Adapt the step with CMA-ES where the blocks have 2 to max_literals float "
        "literals and 2 or more scored relatives are known.",
    )
    max_literals: int = Field(64, ge=1, description="Literals perturbed at most per child.")
    single_moves: bool = Field(
        True,
        description="Where a program has 2 to 8 literals, also move one literal at a time, "
        "each with its own step memory, in the share of children that pays (20-80 %).",
    )


class MutateConfig(_Strict):
    """The mutate operator: genetic-programming edits of the evolve blocks."""

    max_edits: int = Field(
        2, ge=1, le=16, description="Most edits per child (each child: 1 to this many)."
    )
    hoist_keeps_reads: bool = Field(
        True,
        description="The hoist edit (an expression replaced by one of its operands) is not "
        "offered where it would leave the block no longer reading a parameter of one of its "
        "functions (or an attribute of one, such as state.recency).",
    )


class OperatorsConfig(_Strict):
    """Which operators the bandit may choose among, and their settings. An operator that
    a plugin registers with a settings model takes its settings under `operators.<name>`
    (listed below when installed); any other key is an error.

    Plugin settings are kept as extra keys, each validated by its operator's model as the
    section is read (:meth:`_plugin_settings`), so that they are dumped, stored with the
    run and read back like every other key.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True, frozen=False)

    enabled: list[str] = Field(
        default_factory=lambda: ["tune", "mutate", "crossover", "simplify"],
        description="Registered operator names (listed at the end of this page); each "
        "becomes an arm of the operator bandit (the llm ones need the llm section).",
    )
    tune: TuneConfig = Field(default_factory=TuneConfig)
    mutate: MutateConfig = Field(default_factory=MutateConfig)

    @model_validator(mode="before")
    @classmethod
    def _plugin_settings(cls, data: Any, info: ValidationInfo) -> Any:
        """Validate each key that is not a field as the settings of the operator of that
        name, and give every enabled operator that declares settings its defaults when
        the config names none (so the run stores what its operators were built with)."""
        if not isinstance(data, Mapping):
            return data  # pydantic says what is wrong with it
        data = dict(data)
        for name in [key for key in data if key not in cls.model_fields]:
            data[name] = _operator_settings(str(name), data[name], info)
        enabled = data.get(
            "enabled", cls.model_fields["enabled"].get_default(call_default_factory=True)
        )
        if isinstance(enabled, list):
            for name in enabled:
                if not isinstance(name, str) or OPERATORS.settings_model(name) is None:
                    continue
                if name in cls.model_fields:
                    raise ValueError(
                        f"operator {name!r} registers a settings model, but "
                        f"operators.{name} is evoforge's own key; register it under another name"
                    )
                if name not in data:
                    data[name] = _operator_settings(name, {}, info)
        return data

    def settings_of(self, name: str) -> BaseModel | None:
        """The settings of operator ``name`` if it registered a settings model: those this
        config gives, else the model's defaults; None for an operator without one."""
        model = OPERATORS.settings_model(name)
        if model is None:
            return None
        given = (self.__pydantic_extra__ or {}).get(name, {})
        return given if isinstance(given, model) else model.model_validate(given)

    def builtin_only(self) -> OperatorsConfig:
        """This section without the plugins' settings (for processes that build evoforge's
        own operators only, and may not be able to import a plugin's models)."""
        return type(self).model_construct(
            _fields_set=self.model_fields_set & set(type(self).model_fields),
            **{name: getattr(self, name) for name in type(self).model_fields},
        )

    @model_validator(mode="after")
    def _known_operators(self, info: ValidationInfo) -> OperatorsConfig:
        unknown = [name for name in self.enabled if not OPERATORS.has(name)]
        if unknown and not _any_name(info):
            raise ValueError(OPERATORS.unknown(unknown))
        if not self.enabled:
            raise ValueError("at least one operator must be enabled")
        if len(set(self.enabled)) != len(self.enabled) and not _any_name(info):
            raise ValueError(f"enabled operators must be unique, got {self.enabled}")
        return self


def _operator_settings(name: str, value: Any, info: ValidationInfo) -> Any:
    """``operators.<name>``: the validated settings of operator ``name``. Errors are
    raised as pydantic's, located at ``name`` (and inside it), so that the message names
    the key as any other does."""
    model = OPERATORS.settings_model(name)
    if model is None:
        if not OPERATORS.has(name):
            if _any_name(info):
                return value  # a stored run's plugin that is not installed here
            problem = PydanticCustomError(
                "unknown_operator_settings",
                "settings of an {unknown}",
                {"unknown": OPERATORS.unknown(name)},
            )
        else:
            problem = PydanticCustomError(
                "operator_without_settings",
                "unknown key (operator {name} registered no settings model)",
                {"name": repr(name)},
            )
        raise ValidationError.from_exception_data(
            "OperatorsConfig", [{"type": problem, "loc": (name,), "input": value}]
        )
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            "OperatorsConfig",
            [
                {
                    # the message as the model worded it, under its own type
                    "type": PydanticCustomError(
                        error["type"], "{message}", {"message": error["msg"]}
                    ),
                    "loc": (name, *error["loc"]),
                    "input": error["input"],
                }
                for error in exc.errors()
            ],
        ) from None


class BanditConfig(_Strict):
    """Adaptive operator choice, paid from insert outcomes."""

    policy: Literal["ucb1", "thompson", "exp3"] = Field(
        "ucb1", description="ucb1, thompson (Beta posterior) or exp3 (adversarial)."
    )
    exploration: float = Field(1.0, ge=0, description="UCB1 exploration constant c.")
    exp3_gamma: float = Field(0.1, gt=0, le=1, description="EXP3 uniform-mixing rate.")
    discount: float = Field(
        1.0, gt=0, le=1, description="Per-update decay of past statistics (1.0: stationary)."
    )
    window: int | None = Field(
        None, ge=1, description="Use only the last N rewards per arm (None: all)."
    )


def check_endpoint_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and a valid port (what an
    OpenAI-compatible client can send requests to), else ValueError saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"not a usable URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {url!r}")
    if port == 0:
        raise ValueError(f"port 0 cannot be connected to: {url!r}")
    if re.fullmatch(r"[0-9.]+", parts.hostname):
        try:
            ipaddress.IPv4Address(parts.hostname)
        except ValueError:
            raise ValueError(f"not an IPv4 address: {parts.hostname!r} in {url!r}") from None
    return url


class LLMModelConfig(_Strict):
    """One language model behind an OpenAI-compatible endpoint.

    The API key is read from the environment variable named by ``api_key_env`` when a
    call is made; it is never written to the config, the run database or the logs.
    """

    model: str = Field(..., min_length=1, description="Model name the server knows.")
    name: str | None = Field(
        None, description="Label in records and reports (None: the model name)."
    )
    base_url: str = Field(
        "https://api.openai.com/v1", min_length=1, description="Endpoint base URL (…/v1)."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        min_length=1,
        description="Environment variable holding the API key (unset: a placeholder key).",
    )

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        return check_endpoint_url(url)

    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(4096, ge=1, description="Largest completion, in tokens.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    price_input_per_mtok: float = Field(
        0.0, ge=0, description="Price per million prompt tokens (your currency)."
    )
    price_output_per_mtok: float = Field(
        0.0, ge=0, description="Price per million completion tokens."
    )
    weight: float = Field(1.0, gt=0, description="Share of calls under fixed-weight selection.")

    @property
    def label(self) -> str:
        return self.name or self.model


class LLMConfig(_Strict):
    """Language models: endpoints, retries, circuit breaker, model choice and budgets."""

    models: list[LLMModelConfig] = Field(
        default_factory=list, description="Models the llm_* operators may call."
    )
    selection: Literal["weights", "bandit"] = Field(
        "weights",
        description="weights: fixed shares; bandit: learn the model with most gain per cost.",
    )
    auto_enable_operators: bool = Field(
        True,
        description="With models and no llm_* operator enabled, enable all three llm_* ones.",
    )
    completions_per_request: int = Field(
        1, ge=1, le=16, description="n completions per request (the first usable one is kept)."
    )
    max_retries: int = Field(
        4, ge=0, le=20, description="Retries of a failed request (429, 5xx, timeout, network)."
    )
    backoff_base_s: float = Field(
        1.0,
        ge=0,
        description="First retry delay (drawn between half of it and it: jitter); doubles "
        "each retry.",
    )
    backoff_max_s: float = Field(
        30.0, ge=0, description="Longest retry delay (also caps a server's Retry-After)."
    )
    circuit_failures: int = Field(
        3, ge=1, description="Failed requests in a row after which a model is rested."
    )
    circuit_cooldown_s: float = Field(30.0, ge=0, description="How long a rested model rests.")
    max_rests: int = Field(
        3,
        ge=1,
        description="Breaker trips in a row without a success after which a model is dropped: "
        "it rests after the first max_rests - 1 and is dropped at the next.",
    )
    on_no_model: Literal["symbolic", "stop"] = Field(
        "symbolic",
        description="When no model is usable: symbolic (llm_* picks become symbolic "
        "children while every model rests or after all are dropped; a run with no symbolic "
        "operator stops) or stop (all dropped ends the run, exit status 3).",
    )
    max_total_tokens: int | None = Field(
        None, ge=1, description="End the run once this many tokens were used (None: no limit)."
    )
    max_cost: float | None = Field(
        None, gt=0, description="End the run once this much was spent (None: no limit)."
    )
    match_leniency: Literal["exact", "whitespace", "indent", "fuzzy"] = Field(
        "fuzzy",
        description="Most lenient way a SEARCH text may match: exact, whitespace (trailing "
        "spaces, blank lines), indent (any indentation), fuzzy (a unique close match).",
    )
    fuzzy_threshold: float = Field(
        0.9,
        ge=0.5,
        le=1,
        description="Least similarity (difflib ratio) of a fuzzy SEARCH match.",
    )
    correction_prompt: bool = Field(
        True,
        description="Answer an unparseable reply (no edits, no code) once with a short "
        "correction prompt before it counts as a failure.",
    )
    request_process: bool | Literal["auto"] = Field(
        "auto",
        description="Send the model requests from a process of their own, which keeps the "
        "SDK's work per request off the driver's event loop (true), or from the driver "
        "(false); auto: a process of their own where this process may use 4 CPUs or more.",
    )


InspirationPolicy = Literal["top", "diverse", "novel", "nearest"]


def _default_exemplar_arms() -> list[InspirationPolicy]:
    return ["top", "diverse", "nearest"]


class InstructionEvolutionConfig(_Strict):
    """Evolving the system instruction: an archive of instructions, a bandit over them,
    and new ones proposed by the model from the run's results."""

    evolve: bool = Field(
        False, description="Evolve the system instruction (off: the one instruction throughout)."
    )
    propose_every: int = Field(
        20, ge=1, description="Iterations between requests for a new instruction."
    )
    archive_size: int = Field(
        6,
        ge=2,
        le=64,
        description="Instructions kept at most (the first one always); a new one then "
        "replaces one never used yet, else the one with the lowest mean reward.",
    )
    max_chars: int = Field(
        2000, ge=100, le=20000, description="Longest instruction kept (longer ones are cut)."
    )


class ExemplarChoiceConfig(_Strict):
    """Learning which inspirations to show: each policy is an arm of a bandit."""

    adaptive: bool = Field(
        False,
        description="Choose the inspiration policy per prompt with a bandit paid like the "
        "operators (off: prompt.inspiration_policy throughout).",
    )
    arms: list[InspirationPolicy] = Field(
        default_factory=_default_exemplar_arms,
        min_length=1,
        description="The inspiration policies the bandit chooses among.",
    )

    @model_validator(mode="after")
    def _unique_arms(self) -> ExemplarChoiceConfig:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"exemplar arms must be unique, got {self.arms}")
        return self


class RunNotesConfig(_Strict):
    """Run notes: the model summarises what helped and what failed, for later prompts."""

    every_generations: int = Field(
        0,
        ge=0,
        description="Generations (children per island) between notes; 0: no notes.",
    )
    max_chars: int = Field(
        800, ge=100, le=8000, description="Longest note kept and shown (longer ones are cut)."
    )


class PromptConfig(_Strict):
    """How prompts for the llm_* operators are built."""

    system_message: str | None = Field(
        None, description="Replaces the built-in system instruction (None: the template)."
    )
    template_dir: str | None = Field(
        None, description="Directory whose template files override the built-in ones."
    )
    max_prompt_tokens: int = Field(
        6000,
        ge=256,
        description="Prompt budget (estimated at 4 characters a token): feedback, inspirations "
        "and guidance are cut to fit; the parent's code never is, so a prompt may exceed it.",
    )
    inspiration_policy: InspirationPolicy = Field(
        "top",
        description="Inspirations shown: top scores, diverse (farthest-first from the "
        "parent), novel (least similar code) or nearest (most similar code).",
    )
    inspirations: int = Field(2, ge=0, le=8, description="Inspirations shown at most.")
    stagnation_window: int = Field(
        8, ge=1, description="Children on an island without improvement that add guidance."
    )
    failure_streak: int = Field(
        1,
        ge=1,
        le=12,
        description="Failed children in a row on an island that add their reasons (at most "
        "12: the children an island's prompts remember).",
    )
    artifact_chars: int = Field(
        1200, ge=0, description="Characters of each artifact (stderr, feedback) shown."
    )
    instructions: InstructionEvolutionConfig = Field(default_factory=InstructionEvolutionConfig)
    exemplars: ExemplarChoiceConfig = Field(default_factory=ExemplarChoiceConfig)
    notes: RunNotesConfig = Field(default_factory=RunNotesConfig)


class NoveltyConfig(_Strict):
    """Rejecting near-duplicate children before they cost an evaluation."""

    near_duplicates: bool = Field(
        True, description="Reject children whose evolve blocks are near copies of a program."
    )
    threshold: float = Field(
        0.98, gt=0, le=1, description="Estimated Jaccard similarity at or above which to reject."
    )
    shingle_size: int = Field(3, ge=1, le=16, description="Tokens per shingle.")
    num_permutations: int = Field(64, ge=8, le=512, description="MinHash signature length.")
    operators: Literal["llm", "all"] = Field(
        "llm", description="Which children are checked: llm_* ones only, or every child."
    )
    method: Literal["minhash", "embeddings"] = Field(
        "minhash",
        description="minhash: token shingles, offline; embeddings: cosine similarity of "
        "vectors from an OpenAI-compatible /embeddings endpoint.",
    )
    embedding_model: str | None = Field(
        None, description="Embedding model name the server knows (method embeddings)."
    )
    embedding_base_url: str | None = Field(
        None, description="Base URL of the embeddings server, e.g. http://127.0.0.1:8000/v1."
    )
    embedding_api_key_env: str = Field(
        "OPENAI_API_KEY",
        min_length=1,
        description="Environment variable holding the embeddings server's API key.",
    )
    embedding_threshold: float = Field(
        0.995, gt=0, le=1, description="Cosine similarity at or above which to reject."
    )
    embedding_timeout_s: float = Field(
        30.0, gt=0, description="Per-request timeout of the embeddings server, seconds."
    )

    @field_validator("embedding_base_url")
    @classmethod
    def _usable_url(cls, url: str | None) -> str | None:
        return None if url is None else check_endpoint_url(url)

    @model_validator(mode="after")
    def _embeddings_need_an_endpoint(self) -> NoveltyConfig:
        if self.method == "embeddings" and (
            not self.embedding_model or not self.embedding_base_url
        ):
            raise ValueError(
                "novelty.method embeddings needs novelty.embedding_model and "
                "novelty.embedding_base_url"
            )
        return self


class ThresholdoutConfig(_Strict):
    """Thresholdout (Dwork et al. 2015): how the holdout split answers queries. A query
    gets the search score back unless the holdout score differs from it by more than the
    threshold plus Laplace noise; then it gets the holdout score plus Laplace noise and
    spends one unit of budget."""

    threshold: float = Field(
        0.02, ge=0, description="T: a holdout-search difference up to this is not reported."
    )
    noise: float = Field(
        0.005,
        ge=0,
        description="sigma: Laplace scale of answer noise (threshold: 2 sigma, check: 4 sigma).",
    )
    budget: int = Field(
        16, ge=0, description="B: answers from the holdout before it falls back to search scores."
    )


class SplitsConfig(_Strict):
    """Instance splits: the search scores every child on the search split, the final
    program is chosen on the holdout through Thresholdout, the test scores it once."""

    enabled: bool = Field(
        False,
        description="The problem's evaluator takes split= (search, holdout, test); set by it.",
    )
    final_candidates: int = Field(
        8,
        ge=1,
        le=256,
        description="Best programs by search score (one per score) put to the holdout at the end.",
    )
    thresholdout: ThresholdoutConfig = Field(default_factory=ThresholdoutConfig)


class Config(_Strict):
    """The whole resolved configuration of a run."""

    seed: int = Field(0, ge=0, description="The one seed all randomness derives from.")
    run: RunConfig = Field(default_factory=RunConfig)
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    operators: OperatorsConfig = Field(default_factory=OperatorsConfig)
    bandit: BanditConfig = Field(default_factory=BanditConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)
    splits: SplitsConfig = Field(default_factory=SplitsConfig)

    @model_validator(mode="after")
    def _llm_operators_have_models(self) -> Config:
        enabled = self.operators.enabled
        uses_llm = any(OPERATORS.has(name, "llm") for name in enabled)
        if self.llm.models and not uses_llm and self.llm.auto_enable_operators:
            self.operators.enabled = [*enabled, *OPERATORS.names("llm")]
        labels = [model.label for model in self.llm.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"llm model labels must be unique, got {labels}; set 'name'")
        return self


_ANY_NAME = "any_registered_name"  # validation context key: see validate_config


def _any_name(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(_ANY_NAME))


def _registered(registry: Registry, name: str, info: ValidationInfo) -> str:
    if not registry.has(name) and not _any_name(info):
        raise ValueError(registry.unknown(name))
    return name


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge, other values replace."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"]
    if first["type"] == "value_error":  # our own validators' words, without pydantic's tag
        message = message.removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "model_type":  # a section given as something else
        message = _not_a_section(first.get("input"))
    elif "input" in first and not isinstance(first["input"], dict | list):
        message = f"{message} (got {first['input']!r})"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {where}: {message}{suffix}"


def _not_a_section(value: object) -> str:
    """What to say of a section (``run``, ``archive.parents``) given as ``value``, which is
    not a mapping; an empty one (``run:`` with every key under it commented out) is
    YAML's null."""
    if value is None:
        return "is empty; give it keys (indented under it) or remove the line"
    if isinstance(value, list):
        return "must be a section of keys (indented under it), got a list"
    return f"must be a section of keys (indented under it), got {value!r}"


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is an empty mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values, got {type(data).__name__}")
    return data


def repeated_keys(path: Path) -> list[tuple[str, int, int]]:
    """The keys of a YAML file given twice in one mapping, as (dotted key, line of the
    first, line of the repeat), in file order. YAML loaders keep the last value and drop
    the first without a word; the file must already load (see :func:`load_yaml_mapping`)."""
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    repeats: list[tuple[str, int, int]] = []
    _collect_repeats(root, "", repeats)
    return repeats


def _collect_repeats(node: Any, prefix: str, repeats: list[tuple[str, int, int]]) -> None:
    """Add the repeated keys of ``node``'s mappings, at any depth, to ``repeats``."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _collect_repeats(item, prefix, repeats)
    if not isinstance(node, yaml.MappingNode):
        return
    first_line: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
        if key is not None and key != "<<":  # "<<" merges; it may well repeat
            dotted = f"{prefix}{key}"
            line = key_node.start_mark.line + 1
            if key in first_line:
                repeats.append((dotted, first_line[key], line))
            else:
                first_line[key] = line
        _collect_repeats(value_node, f"{prefix}{key}." if key is not None else prefix, repeats)


def validate_config(
    data: Mapping[str, Any], source: str = "config", *, unregistered_parts: bool = False
) -> Config:
    """Validate a merged mapping into a :class:`Config` or raise a one-line ConfigError.

    ``unregistered_parts``: accept operator, archive and backend names that no
    registration in this process knows. For views that only read a stored run (its
    report, its export) made with a plugin that is not installed here: such a config
    names parts it cannot build, and must never be handed to the engine.
    """
    context = {_ANY_NAME: True} if unregistered_parts else None
    try:
        return Config.model_validate(dict(data), context=context)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, source)) from exc


def resolve_config(
    *,
    problem_layer: Mapping[str, Any] | None = None,
    file_layer: Mapping[str, Any] | None = None,
    cli_layer: Mapping[str, Any] | None = None,
    problem_source: str = "problem config.yaml",
    file_source: str = "--config file",
    cli_source: str = "command line",
) -> Config:
    """Merge the layers (defaults < problem < file < CLI) and validate each and the result.

    Each layer is validated on its own first so that an error names its source
    (``problem_source``, ``file_source``: the files' paths where the caller knows them;
    ``cli_source``: where the last layer's settings came from).
    """
    merged: dict[str, Any] = {}
    for source, layer in (
        (problem_source, problem_layer),
        (file_source, file_layer),
        (cli_source, cli_layer),
    ):
        if layer:
            validate_config(layer, source)
            merged = deep_merge(merged, layer)
    return validate_config(merged)


def config_to_yaml(config: Config) -> str:
    """The config as YAML, every key present (what the run database stores)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def config_reference() -> str:
    """Every config key with its type, default and meaning, as Markdown (docs/CONFIG.md)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `evoforge/config.py` by `evoforge config --reference`; a test keeps it",
        "in step. Precedence: command line > `--config FILE` > the problem's `config.yaml` >",
        "these defaults. An unknown key or a bad value stops the run with one line (exit 2).",
        "A key given that the rest of the configuration leaves unread (a fixed parent rate",
        "under the parent bandit, an operator's settings while it is not enabled, ...) is",
        "named in a note at the start of the run, with the file that gave it.",
        "",
    ]
    _describe_model(Config, "", lines)
    lines += ["## Registered parts", ""]
    for registry in (OPERATORS, FEATURES, ARCHIVES, BACKENDS):
        lines += [f"{registry.kind.capitalize()}s:", ""]
        for name in registry.names():
            entry = registry.entry(name)
            tags = f" ({', '.join(sorted(entry.tags))})" if entry.tags else ""
            lines.append(f"- `{name}`{tags}: {entry.summary}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _describe_model(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
    title = prefix.rstrip(".") or "top level"
    lines += [f"## `{title}`", "", doc, "", "| key | default | meaning |", "|---|---|---|"]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((annotation, f"{prefix}{name}."))
            lines.append(f"| `{prefix}{name}` | (section) | see `{prefix}{name}` below |")
            continue
        meaning = (field.description or "").replace("|", "\\|")
        if field.is_required():
            lines.append(f"| `{prefix}{name}` | (required) | {meaning} |")
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        elif isinstance(default, list):
            default = [
                d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in default
            ]
        rendered = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...")
        lines.append(f"| `{prefix}{name}` | `{rendered.strip()}` | {meaning} |")
    lines.append("")
    for sub_model, sub_prefix in nested:
        _describe_model(sub_model, sub_prefix, lines)
    if model is ArchiveConfig:
        _describe_model(FeatureConfig, f"{prefix}features[].", lines)
    if model is LLMConfig:
        _describe_model(LLMModelConfig, f"{prefix}models[].", lines)
    if model is OperatorsConfig:
        for name in OPERATORS.names():
            settings = OPERATORS.settings_model(name)
            if settings is not None and name not in model.model_fields:
                _describe_model(settings, f"{prefix}{name}.", lines)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
