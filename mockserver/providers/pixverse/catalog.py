"""The fixed lists the PixVerse platform serves: TTS speakers, effect templates and
restyle presets.

Speakers are the 15 of the "Get Speech(Lipsync) tts list" example (its API reference page), in its
order.  Templates and restyle presets are live, per-account lists on the real
platform; the fake serves a small fixed catalogue instead.  Template ids and names
come from third-party clients (ComfyUI's PixVerse nodes, useapi.net's effect list);
the image templates and every restyle preset are inventions of the fake, marked so in
the contract's ``x-fake-notes``.
"""
from __future__ import annotations

from dataclasses import dataclass

#: (speaker_id, name) as the tts_list example orders them; ids are strings.
TTS_SPEAKERS: tuple[tuple[str, str], ...] = (
    ("7", "Harper"), ("8", "Ava"), ("3", "Isabella"), ("9", "Sophia"), ("1", "Emily"),
    ("5", "Chloe"), ("10", "Julia"), ("11", "Mason"), ("12", "Jack"), ("4", "Liam"),
    ("2", "James"), ("13", "Oliver"), ("6", "Adrian"), ("14", "Ethan"), ("Auto", "Auto"),
)

# The lip-sync page's example sends "auto" while the list says "Auto": ids compare
# case-insensitively.
_SPEAKER_IDS = {speaker_id.lower() for speaker_id, _ in TTS_SPEAKERS}


def speaker_exists(speaker_id: str) -> bool:
    """Whether ``speaker_id`` names a listed speaker ("auto" matches "Auto")."""
    return speaker_id.strip().lower() in _SPEAKER_IDS


VIDEO, IMAGE = 1, 2  # template_type: what the template produces

ALL_QUALITIES = ("360p", "540p", "720p", "1080p")


@dataclass(frozen=True, slots=True)
class Template:
    """One effect template.

    ``template_type`` is 1 (video, used through image-to-video's ``template_id``) or
    2 (image, used through image template generation); ``effect_type`` the number of
    images it takes (0 = none); ``qualities`` the qualities it renders (another is
    500071); ``duration`` its default seconds; ``credits`` what an image template
    costs (video templates cost what image-to-video costs).  ``activated`` False
    models a template the account has not activated in the console (500070).
    """

    template_id: int
    display_name: str
    display_prompt: str
    template_type: int
    effect_type: int
    qualities: tuple[str, ...] = ALL_QUALITIES
    duration: int = 5
    credits: int = 0
    activated: bool = True

    def wire(self) -> dict[str, object]:
        """The template as the list endpoint reports it."""
        return {
            "template_id": self.template_id,
            "display_name": self.display_name,
            "display_prompt": self.display_prompt,
            "template_type": self.template_type,
            "effect_type": self.effect_type,
            "qualities": list(self.qualities),
            "duration": self.duration,
        }


TEMPLATES: tuple[Template, ...] = (
    Template(302325299692608, "Template example", "Apply the effect", VIDEO, 1),
    Template(303624537709312, "We Are Venom!", "Transform into a [BLACK] Venom", VIDEO, 1),
    Template(307489434436288, "Hot Harley Quinn", "Transform into Harley Quinn", VIDEO, 1),
    Template(313358700761536, "Anything, Robot", "Turn into a robot", VIDEO, 1),
    Template(315446315336768, "kiss kiss", "A gentle kiss", VIDEO, 1),
    Template(324641385496960, "Microwave", "Spin in a microwave", VIDEO, 1,
             qualities=("360p", "540p", "720p")),
    Template(324641581197696, "Let's Dance!", "Everyone, join the Disco Party Jam!", VIDEO, 1),
    Template(326733946317888, "Forever Us", "Two people, one moment", VIDEO, 2),
    Template(327828816843648, "Subject 3 Fever", "Dance the Subject 3", VIDEO, 1, activated=False),
    Template(328545151283968, "Suit Swagger", "Walk in a sharp suit", VIDEO, 1),
    # Image templates: invented by the fake (no public list gives one).
    Template(340000000000001, "Action Figure", "Boxed as an action figure", IMAGE, 1, credits=20),
    Template(340000000000002, "Couple Portrait", "A portrait of the two", IMAGE, 2, credits=20),
)

_TEMPLATES_BY_ID = {t.template_id: t for t in TEMPLATES}


def template(template_id: int) -> Template | None:
    return _TEMPLATES_BY_ID.get(template_id)


@dataclass(frozen=True, slots=True)
class Restyle:
    """A restyle preset: ``restyle_id`` for restyle generation, ``restyle_name`` to show."""

    restyle_id: int
    restyle_name: str

    def wire(self) -> dict[str, object]:
        return {"restyle_id": self.restyle_id, "restyle_name": self.restyle_name}


# Invented by the fake: the guide names the kinds of style (3D, anime, cinematic,
# enhanced realism); no public list gives ids.
RESTYLES: tuple[Restyle, ...] = (
    Restyle(350000000000001, "Anime"),
    Restyle(350000000000002, "3D Animation"),
    Restyle(350000000000003, "Cinematic"),
    Restyle(350000000000004, "Enhanced Realism"),
    Restyle(350000000000005, "Clay"),
    Restyle(350000000000006, "Comic"),
    Restyle(350000000000007, "Cyberpunk"),
)

_RESTYLES_BY_ID = {r.restyle_id: r for r in RESTYLES}


def restyle(restyle_id: int) -> Restyle | None:
    return _RESTYLES_BY_ID.get(restyle_id)


def page(items: tuple, page_num: int, page_size: int) -> list:
    """Items of 1-based page ``page_num`` of ``page_size``; [] past the end."""
    start = (page_num - 1) * page_size
    return list(items[start:start + page_size])
