"""A voice pipeline around the LLM under test: audio in, scripted STT, recording TTS, audio out.

The framework's session (``hosted.Session``) runs without a room: its ``input.audio`` and
``output.audio`` are the doubles below (``livekit.agents.voice.io.AudioInput``/
``AudioOutput``), so no LiveKit server, model or outside network is involved. Only the edges
are doubles; everything between them is the framework:

- ``UserMic`` is the user's microphone: ``push`` sends 20 ms frames of silence.
- ``ScriptedSTT`` stands for a streaming STT with end-of-turn (the session runs with
  ``turn_detection="stt"`` and no VAD): it transcribes the next scripted line once that line's
  audio has arrived, as start-of-speech, an interim, the final transcript and end-of-speech.
- ``RecordingTTS`` records the exact text the framework asks it to speak, one entry per
  utterance, and answers with a little silence per character.
- ``Speaker`` plays that audio out in real time (its length), and stops when interrupted.

``VoiceHarness`` wires them into a session: ``say`` is the user speaking a line, ``reply``
waits (bounded) for the agent's spoken answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from livekit import rtc
from livekit.agents import Agent, LanguageCode, llm, stt, tts, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils.audio import AudioBuffer
from livekit.agents.voice import io
from livekit.agents.voice.events import ConversationItemAddedEvent

from livekit_plugins_hosted import Session
from tests.waits import wait_until

MIC_RATE = 16000
FRAME_S = 0.02
SPEAKER_RATE = 24000
SECONDS_PER_CHAR = 0.002
"""Audio the TTS makes per character: short, so a reply plays out in milliseconds."""
LINE_AUDIO_S = 0.2
"""How long the user speaks one line (as audio through the mic)."""

_Events = Literal["metrics_collected", "error"]


class UserMic(io.AudioInput):
    """The session's audio input: frames of silence, pushed when the user speaks."""

    def __init__(self) -> None:
        super().__init__(label="UserMic")
        self._frames = utils.aio.Chan[rtc.AudioFrame]()

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._frames.__anext__()

    def push(self, seconds: float) -> None:
        samples = int(MIC_RATE * FRAME_S)
        for _ in range(max(1, round(seconds / FRAME_S))):
            self._frames.send_nowait(
                rtc.AudioFrame(
                    data=b"\x00\x00" * samples,
                    sample_rate=MIC_RATE,
                    num_channels=1,
                    samples_per_channel=samples,
                )
            )

    def close(self) -> None:
        self._frames.close()


@dataclass
class _Line:
    text: str
    audio_s: float
    heard_s: float = 0.0


class ScriptedSTT(stt.STT[_Events]):
    """A streaming STT whose transcripts are scripted lines, each given when its audio arrives."""

    def __init__(self) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=True, offline_recognize=False
            )
        )
        self._lines: list[_Line] = []
        self.transcribed: list[str] = []
        """The final transcripts sent, in order."""

    def expect(self, text: str, audio_s: float) -> None:
        """The next ``audio_s`` seconds of audio are the user saying ``text``."""
        self._lines.append(_Line(text, audio_s))

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        raise NotImplementedError("ScriptedSTT only streams")

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> _ScriptedStream:
        return _ScriptedStream(stt=self, conn_options=conn_options)


class _ScriptedStream(stt.RecognizeStream):
    def __init__(self, *, stt: ScriptedSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._script = stt

    def _send(self, type: stt.SpeechEventType, text: str = "") -> None:
        alternatives = (
            [stt.SpeechData(language=LanguageCode("en"), text=text, confidence=1.0)] if text else []
        )
        self._event_ch.send_nowait(stt.SpeechEvent(type=type, alternatives=alternatives))

    async def _run(self) -> None:
        lines = self._script._lines
        async for data in self._input_ch:
            if not isinstance(data, rtc.AudioFrame) or not lines:
                continue  # flushes, and audio nobody scripted (silence)
            line = lines[0]
            if line.heard_s == 0.0:
                self._send(stt.SpeechEventType.START_OF_SPEECH)
                self._send(stt.SpeechEventType.INTERIM_TRANSCRIPT, line.text.split()[0])
            line.heard_s += data.duration
            if line.heard_s + 1e-6 >= line.audio_s:
                lines.pop(0)
                self._send(stt.SpeechEventType.FINAL_TRANSCRIPT, line.text)
                self._send(stt.SpeechEventType.END_OF_SPEECH)
                self._script.transcribed.append(line.text)


class RecordingTTS(tts.TTS[_Events]):
    """A streaming TTS that records the text it is asked to speak."""

    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True),
            sample_rate=SPEAKER_RATE,
            num_channels=1,
        )
        self.streams: list[_RecordingStream] = []

    @property
    def heard(self) -> list[str]:
        """The text of each utterance, in order (what was pushed so far, if cut short)."""
        return [s.text for s in self.streams if s.text]

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return self._synthesize_with_stream(text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> _RecordingStream:
        stream = _RecordingStream(tts=self, conn_options=conn_options)
        self.streams.append(stream)
        return stream


class _RecordingStream(tts.SynthesizeStream):
    def __init__(self, *, tts: RecordingTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self.text = ""

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("tts_"),
            sample_rate=SPEAKER_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=20,
            stream=True,
        )
        started = False
        async for data in self._input_ch:
            if isinstance(data, str):
                self.text += data
                if not started:
                    output_emitter.start_segment(segment_id=utils.shortuuid("seg_"))
                    started = True
                    self._mark_started()
                samples = max(1, round(SPEAKER_RATE * SECONDS_PER_CHAR * len(data)))
                output_emitter.push(b"\x00\x00" * samples)
            elif started:
                output_emitter.flush()


class Speaker(io.AudioOutput):
    """The session's audio output: plays audio out in real time; cut short when interrupted."""

    def __init__(self) -> None:
        super().__init__(
            label="Speaker", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=None
        )
        self._pushed = 0.0
        self._started_at: float | None = None
        self._done: asyncio.TimerHandle | None = None
        self.interruptions = 0
        """Playbacks cut short (``clear_buffer`` while audio was playing)."""

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._started_at is None:
            self._started_at = time.time()
            self.on_playback_started(created_at=self._started_at)
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._started_at is None:
            return
        pushed = self._pushed
        delay = max(0.0, pushed - (time.time() - self._started_at))

        def finished() -> None:
            self._reset()
            self.on_playback_finished(playback_position=pushed, interrupted=False)

        if self._done is not None:
            self._done.cancel()
        self._done = asyncio.get_running_loop().call_later(delay, finished)

    def clear_buffer(self) -> None:
        if self._started_at is None:
            return
        played = min(self._pushed, time.time() - self._started_at)
        self._reset()
        self.interruptions += 1
        self.on_playback_finished(playback_position=played, interrupted=True)

    def _reset(self) -> None:
        if self._done is not None:
            self._done.cancel()
        self._done = None
        self._pushed = 0.0
        self._started_at = None


class VoiceHarness:
    """The framework's session with mic, ``ScriptedSTT``, the given LLM, ``RecordingTTS``, speaker.

    Use as ``async with VoiceHarness(llm) as h: h.say("Hi"); text = await h.reply()``. The
    harness closes the session and then the LLM.
    """

    def __init__(
        self,
        model: llm.LLM[Any],
        *,
        tools: Sequence[llm.Tool] = (),
        instructions: str = "Be brief.",
        preemptive: bool = False,
        min_delay: float = 0.05,
    ) -> None:
        self.llm = model
        self.mic = UserMic()
        self.stt = ScriptedSTT()
        self.tts = RecordingTTS()
        self.speaker = Speaker()
        self.agent = Agent(instructions=instructions, tools=list(tools))
        self.session: Session[None] = Session(
            stt=self.stt,
            vad=None,  # no model: the STT's end-of-speech ends the user's turn
            llm=model,
            tts=self.tts,
            turn_handling={
                "turn_detection": "stt",
                "endpointing": {"min_delay": min_delay, "max_delay": max(1.0, min_delay)},
                # off by default: one request per user turn, so the gateway's request count
                # means something (``preemptive``: the framework's default, on)
                "preemptive_generation": {"enabled": preemptive},
                # interruptions stop the speech at once (the speaker cannot pause)
                "interruption": {
                    "false_interruption_timeout": None,
                    "resume_false_interruption": False,
                },
            },
            aec_warmup_duration=None,
            user_away_timeout=None,
            session_close_transcript_timeout=0.1,
        )
        self.session.input.audio = self.mic
        self.session.output.audio = self.speaker
        self.replies: list[llm.ChatMessage] = []
        """Assistant messages spoken in full, in order."""
        self.interrupted: list[llm.ChatMessage] = []
        """Assistant messages cut short by the user."""
        self._asked = 0
        self.session.on("conversation_item_added", self._on_item)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        if isinstance(ev.item, llm.ChatMessage) and ev.item.role == "assistant":
            (self.interrupted if ev.item.interrupted else self.replies).append(ev.item)

    async def __aenter__(self) -> VoiceHarness:
        async with asyncio.timeout(5):
            await self.session.start(self.agent)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.mic.close()
        try:
            async with asyncio.timeout(5):
                await self.session.aclose()
        finally:
            await self.llm.aclose()

    def say(self, text: str, *, audio_s: float = LINE_AUDIO_S) -> None:
        """The user speaks ``text``: its audio goes into the mic and the STT transcribes it."""
        self._asked = len(self.replies)
        self.stt.expect(text, audio_s)
        self.mic.push(audio_s)

    async def reply(self, *, within: float = 10.0) -> str:
        """The text of the next reply spoken in full since ``say``, once the agent listens again."""
        await wait_until(
            lambda: len(self.replies) > self._asked and self.session.agent_state == "listening",
            within=within,
            what="the agent's spoken reply",
        )
        return self.replies[self._asked].text_content or ""
