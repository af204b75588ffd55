"""The voice quickstart with Gemma 4 31B IT on LiveKit Inference.

    python examples/voice_agent.py console     # talk to it in the terminal
    python examples/voice_agent.py dev         # join a LiveKit room

Needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET. STT, LLM and TTS all run on
LiveKit Inference (no other provider keys); VAD and turn detection run in the worker.
"""

from __future__ import annotations

from livekit.agents import Agent, AgentServer, JobContext, cli, inference

import livekit_plugins_hosted as hosted  # importing makes llm="google/gemma-4-31b-it" ours

server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = hosted.Session(
        stt="deepgram/nova-3",
        llm="google/gemma-4-31b-it",  # resolves to livekit_plugins_hosted.LLM
        tts="cartesia/sonic-3",
        vad=inference.VAD(),
        turn_handling={"turn_detection": inference.TurnDetector()},
    )
    await session.start(
        agent=Agent(instructions="You are a friendly voice assistant. Keep answers short."),
        room=ctx.room,
    )
    await session.generate_reply(instructions="Greet the user and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
