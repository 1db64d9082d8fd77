"""The case graph: analyse → route → review (interrupt) → execute → appeal window (interrupt)
→ on appeal, roll back → review in the next round.

Built by a factory from its dependencies. The two pausing nodes have no side effects because
`interrupt()` re-runs its node from the top on resume; `analyze` has none either (the runner
records its result with the pause that follows, in one transaction); the platform actions go
through the ledger, so a node that runs again after a crash does no harm.
"""

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from shared.domain import ACTION_PLANS, ACTION_TARGET, Decision
from services.worker import quality
from services.worker.ledger import ActionLedger
from services.worker.redaction import redacted
from services.worker.review import APPEAL_PAUSE, review_payload


class Analyser(Protocol):
    def analyse(self, *, text: str, feedback: str | None = None, tenant: str | None = None) -> Any: ...


class CaseState(TypedDict, total=False):
    case_id: str
    external_id: str
    tenant: str
    content: dict
    round: int
    attempt: int  # re-analyses used in this round
    feedback: str | None
    analysis: dict
    analysed_in: dict  # {"round", "attempt"} of the analysis: the runner records it once
    decision: dict | None  # {"decision", "note", "by"}
    appeal: dict | None  # {"reason", "by"}
    qa: dict | None  # a quality reviewer's finding that reopened the case (services/worker/quality.py)


@dataclass(frozen=True)
class GraphDeps:
    analyser: Analyser
    ledger: ActionLedger
    reanalyze_limit: int


def build_graph(deps: GraphDeps) -> StateGraph:
    def analyze(state: CaseState) -> CaseState:
        text = state["content"]["text"]
        found = deps.analyser.analyse(text=text, feedback=state.get("feedback"), tenant=state.get("tenant"))
        analysis = found.model_dump(mode="json", exclude={"shadow"} if found.shadow is None else None)
        if state.get("qa"):
            analysis = quality.reviewed(analysis, state["qa"])
        # What a reviewer reads: secrets and personal data masked, whichever analyser ran.
        analysis["redacted_text"] = redacted(text)
        return {"analysis": analysis,
                "analysed_in": {"round": state["round"], "attempt": state["attempt"]}}

    def route_analysis(state: CaseState) -> Literal["review", "__end__"]:
        return "review" if state["analysis"]["needs_review"] else END

    def review(state: CaseState) -> CaseState:
        payload = review_payload(
            case_id=state["case_id"],
            round=state["round"],
            attempt=state["attempt"],
            content=state["content"],
            analysis=state["analysis"],
            reanalyze_limit=deps.reanalyze_limit,
        )
        return {"decision": interrupt(payload)}

    def route_decision(state: CaseState) -> Literal["prepare_reanalysis", "execute"]:
        reanalyze = state["decision"]["decision"] == Decision.REANALYZE
        return "prepare_reanalysis" if reanalyze and state["attempt"] < deps.reanalyze_limit else "execute"

    def prepare_reanalysis(state: CaseState) -> CaseState:
        return {"attempt": state["attempt"] + 1, "feedback": state["decision"].get("note")}

    def execute(state: CaseState) -> CaseState:
        decision = Decision(state["decision"]["decision"])
        targets = {"content": state["external_id"], "users": state["content"]["author_id"]}
        for kind in ACTION_PLANS.get(decision, ()):
            deps.ledger.execute(
                case_id=uuid.UUID(state["case_id"]),
                round=state["round"],
                decision=decision,
                kind=kind,
                target_id=targets[ACTION_TARGET[kind]],
            )
        return {}

    def appeal_window(state: CaseState) -> CaseState:
        return {"appeal": interrupt({"kind": APPEAL_PAUSE, "round": state["round"]})}

    def rollback(state: CaseState) -> CaseState:
        deps.ledger.reverse_all(case_id=uuid.UUID(state["case_id"]), round=state["round"])
        return {"round": state["round"] + 1, "attempt": 0, "feedback": None, "decision": None, "appeal": None}

    graph = StateGraph(CaseState)
    graph.add_node("analyze", analyze)
    graph.add_node("review", review)
    graph.add_node("prepare_reanalysis", prepare_reanalysis)
    graph.add_node("execute", execute)
    graph.add_node("appeal_window", appeal_window)
    graph.add_node("rollback", rollback)
    graph.add_edge(START, "analyze")
    graph.add_conditional_edges("analyze", route_analysis)
    graph.add_conditional_edges("review", route_decision)
    graph.add_edge("prepare_reanalysis", "analyze")
    graph.add_edge("execute", "appeal_window")
    graph.add_edge("appeal_window", "rollback")
    graph.add_edge("rollback", "review")
    return graph
