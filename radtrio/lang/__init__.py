"""radtrio's frontend language: programs that mix text, generation, selection, chat roles
and forks, run against an in-process engine or a remote server.

    import radtrio as rt

    @rt.function
    def qa(s, question):
        s += rt.system("You are a helpful assistant.")
        s += rt.user(question)
        s += rt.assistant(rt.gen("answer", max_tokens=64))

    rt.set_default_backend(rt.EngineBackend())
    print(qa.run(question="What is the capital of France?")["answer"])
"""

from radtrio.lang.backend import (
    Backend,
    EngineBackend,
    RemoteBackend,
    connect,
    get_default_backend,
    set_default_backend,
)
from radtrio.lang.chat import ChatTemplateError
from radtrio.lang.ir import assistant, gen, select, system, user
from radtrio.lang.program import Program, function
from radtrio.lang.state import ForkGroup, ProgramState, SelectResult

__all__ = [
    "Backend",
    "ChatTemplateError",
    "EngineBackend",
    "ForkGroup",
    "Program",
    "ProgramState",
    "RemoteBackend",
    "SelectResult",
    "assistant",
    "connect",
    "function",
    "gen",
    "get_default_backend",
    "select",
    "set_default_backend",
    "system",
    "user",
]
