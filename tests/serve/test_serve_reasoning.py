"""ReasoningSplitter: reasoning and content apart, whatever pieces the text arrives in."""

from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.io.chat_template import split_reasoning
from minireason.serve.reasoning import CONTENT, REASONING, ReasoningSplitter


def run(pieces, thinking=True):
    splitter = ReasoningSplitter(thinking)
    out = [pair for piece in pieces for pair in splitter.feed(piece)] + splitter.finish()
    return ("".join(text for name, text in out if name == REASONING),
            "".join(text for name, text in out if name == CONTENT))


def test_examples():
    assert run(["<think>\nwhy\n</think>\n\nanswer"]) == ("why", "answer")
    assert run(["<th", "ink>\nw", "hy\n\n</th", "ink", ">\n", "\nans", "wer\n"]) == ("why", "answer\n")
    assert run(["just an answer </think> here"]) == ("", "just an answer </think> here")
    assert run(["<think>\nnever closed\n"]) == ("never closed", "")
    assert run(["<think>x</think>y"], thinking=False) == ("", "<think>x</think>y")
    assert run(["<thi"]) == ("", "<thi")  # the start of a marker that never completes is content


texts = st.lists(st.sampled_from(["<think>", "</think>", "\n", "\n\n", "a", "b c", "<", "</", "think", ">"]),
                 max_size=12).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 200), max_size=6), thinking=st.booleans())
def test_any_pieces_give_what_the_whole_text_gives(text, cuts, thinking):
    bounds = sorted({min(cut, len(text)) for cut in cuts} | {0, len(text)})
    pieces = [text[start:end] for start, end in zip(bounds, bounds[1:])]
    assert run(pieces, thinking) == run([text], thinking)


@settings(max_examples=100, deadline=None)
@given(reasoning=st.text(st.sampled_from("ab \n<>/"), max_size=20).filter(lambda t: "</think>" not in t),
       answer=st.text(st.sampled_from("ab \n<>/"), max_size=20))
def test_a_qwen3_answer_splits_as_the_chat_template_does(reasoning, answer):
    reasoning, answer = reasoning.strip("\n"), answer.lstrip("\n")
    whole = f"<think>\n{reasoning}\n</think>\n\n{answer}"
    assert run([whole]) == split_reasoning(whole)
