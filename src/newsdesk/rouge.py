"""ROUGE-N counts the way ROUGE-1.5.5 makes them with ``-m -s`` (stemmed, stop words out).

The timeline metrics (``newsdesk.timeline_eval``) follow tilse, which runs the ROUGE-1.5.5
Perl script with Porter stemming (``-m``) and its SMART stop list removed (``-s``) and reads
raw counts. This module makes the same counts in Python: text lower-cased, every character
but letters, digits and hyphens made a space, stop words dropped, words longer than three
characters Porter-stemmed (the Snowball project's implementation of Porter's original
algorithm), then n-grams clipped against the reference. Unlike the Perl script it does not
look irregular forms up in WordNet first ("went" stays "went"), so its counts can differ from
the script's by a few words in a hundred.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# ROUGE-1.5.5's data/smart_common_words.txt (598 lines), less the entries that hold a
# character its tokenizer removes (they never match a token).
STOP_WORDS = frozenset(
    """
    a able about above according accordingly across actually after afterwards again against
    all allow allows almost alone along already also although always am amid among amongst
    an and another any anybody anyhow anyone anything anyway anyways anywhere ap apart
    appear appreciate appropriate apr are around as aside ask asking associated at aug
    available away awfully b be became because become becomes becoming been before
    beforehand behind being believe below beside besides best better between beyond both
    brief but by c came can cannot cant cause causes certain certainly changes clearly co
    com come comes concerning consequently consider considering contain containing contains
    corresponding could course currently d dec definitely described despite did different do
    does doing done down downwards during e each edu eg eight either else elsewhere enough
    entirely especially et etc even ever every everybody everyone everything everywhere ex
    exactly example except f far feb few fifth five followed following follows for former
    formerly forth four fri from further furthermore g get gets getting given gives go goes
    going gone got gotten greetings h had happens hardly has have having he hello help hence
    her here hereafter hereby herein hereupon hers herself hi him himself his hither
    hopefully how howbeit however i ie if ignored immediate in inasmuch inc indeed index
    indicate indicated indicates inner insofar instead into inward is it its itself j jan
    jul jun just k keep keeps kept know known knows l lately later latter latterly least
    less lest let like liked likely little look looking looks ltd m mainly many mar may
    maybe me mean meanwhile merely might mon more moreover most mostly much must my myself n
    namely nd near nearly necessary need needs neither never nevertheless new news next nine
    no nobody non none noone nor normally not nothing nov novel now nowhere o obviously oct
    of off often oh ok okay old on once one ones only onto or other others otherwise ought
    our ours ourselves out outside over overall own p particular particularly per perhaps
    placed please plus possible presumably probably provides q que quite qv r rather rd re
    really reasonably regarding regardless regards relatively respectively reuters right s
    said same sat saw say saying says second secondly see seeing seem seemed seeming seems
    seen self selves sensible sent sep serious seriously seven several shall she should
    since six so some somebody somehow someone something sometime sometimes somewhat
    somewhere soon sorry specified specify specifying still sub such sup sure t take taken
    tech tell tends th than thank thanks thanx that thats the their theirs them themselves
    then thence there thereafter thereby therefore therein theres thereupon these they think
    third this thorough thoroughly those though three through throughout thru thu thus to
    together too took toward towards tried tries truly try trying tue twice two u un under
    unfortunately unless unlikely until unto up upon us use used useful uses using usually
    uucp v value various very via viz vs w want wants was way we wed welcome well went were
    what whatever when whence whenever where whereafter whereas whereby wherein whereupon
    wherever whether which while whither who whoever whole whom whose why will willing wish
    with within without wonder would x y yes yet you your yours yourself yourselves z zero
    """.split()  # noqa: SIM905
)

_NOT_WORD = re.compile(r"[^a-z0-9-]+")


@functools.lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word)) if len(word) > 3 else word


def rouge_tokens(text: str) -> list[str]:
    """The tokens ROUGE-1.5.5 counts in ``text`` with stemming and stop-word removal."""
    return [_stem(w) for w in _NOT_WORD.sub(" ", text.lower()).split() if w not in STOP_WORDS]


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class RougeCounts:
    """Clipped n-gram matches (``hits``), n-grams of the summary (``peer``) and of the
    reference (``model``): precision is hits/peer, recall hits/model."""

    hits: int
    peer: int
    model: int


def rouge_counts(summary: Sequence[str], reference: Sequence[str], n: int) -> RougeCounts:
    """ROUGE-N counts of a summary (its sentences) against one reference (its sentences).

    Each text's sentences are joined into one token stream, as the Perl script reads them.
    """
    peer = ngrams(rouge_tokens(" ".join(summary)), n)
    model = ngrams(rouge_tokens(" ".join(reference)), n)
    hits = sum(min(c, model[g]) for g, c in peer.items())
    return RougeCounts(hits, sum(peer.values()), sum(model.values()))
