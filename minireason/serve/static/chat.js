// The chat page: keeps the conversation in the page, sends it to /v1/chat/completions with
// stream: true, and shows the answer as the server-sent chunks arrive (reasoning_content in a
// collapsible block, content below), then tokens/s from the usage chunk. Stop aborts the request;
// the server sees the connection close and frees the sequence's slot.
"use strict";

const $ = (id) => document.getElementById(id);
let messages = [];  // the conversation: {role, content} as the API takes it
let controller = null;  // the AbortController of the answer being streamed
let modelName = null;

function headers() {
  const key = $("api-key").value.trim();
  const result = { "Content-Type": "application/json" };
  if (key) result["Authorization"] = "Bearer " + key;
  return result;
}

async function loadModel() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    modelName = body.data[0].id;
    $("model").textContent = modelName;
  } catch (error) {
    $("status").textContent = "cannot list models: " + error.message;
  }
}

function addTurn(role) {
  const turn = document.createElement("div");
  turn.className = "turn " + role;
  $("conversation").appendChild(turn);
  return turn;
}

function assistantTurn() {
  const turn = addTurn("assistant");
  const details = document.createElement("details");
  details.className = "thinking";
  details.open = true;
  details.hidden = true;
  const summary = document.createElement("summary");
  summary.textContent = "thinking";
  const reasoning = document.createElement("div");
  reasoning.className = "reasoning";
  details.append(summary, reasoning);
  const content = document.createElement("div");
  content.className = "content";
  const speed = document.createElement("span");
  speed.className = "speed";
  turn.append(details, content, speed);
  return { turn, details, reasoning, content, speed };
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function send(text) {
  if (!modelName) await loadModel();
  messages.push({ role: "user", content: text });
  addTurn("user").textContent = text;
  const view = assistantTurn();
  controller = new AbortController();
  setBusy(true);
  const started = performance.now();
  let firstTokenAt = null, usage = null, finish = null;
  $("status").textContent = "waiting for the first token…";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({
        model: modelName, messages, stream: true, stream_options: { include_usage: true },
        max_tokens: parseInt($("max-tokens").value, 10) || 256,
        chat_template_kwargs: { enable_thinking: $("thinking").checked },
      }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          const delta = choice.delta || {};
          if (delta.reasoning_content) {
            view.details.hidden = false;
            view.reasoning.textContent += delta.reasoning_content;
          }
          if (delta.content) view.content.textContent += delta.content;
          if ((delta.content || delta.reasoning_content) && firstTokenAt === null) firstTokenAt = performance.now();
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        $("conversation").scrollTop = $("conversation").scrollHeight;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const tokens = usage ? usage.completion_tokens : 0;
    view.speed.textContent = `${tokens} tokens in ${seconds.toFixed(2)} s, ${(tokens / seconds).toFixed(1)} tokens/s` +
      (finish === "length" ? " (length limit)" : "");
    $("status").textContent = "ready";
  } catch (error) {
    if (error.name === "AbortError") {
      view.speed.textContent = "[stopped]";
      $("status").textContent = "stopped";
    } else {
      view.turn.classList.add("error");
      view.content.textContent += "[error: " + error.message + "]";
      $("status").textContent = "error";
    }
  } finally {
    controller = null;
    setBusy(false);
    view.details.open = false;  // the thinking folds away once the answer is complete
    messages.push({ role: "assistant", content: view.content.textContent,
                    reasoning_content: view.reasoning.textContent });
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value;
  if (!text.trim() || controller) return;
  $("message").value = "";
  send(text);
});
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("reset").addEventListener("click", () => {
  if (controller) controller.abort();
  messages = [];
  $("conversation").replaceChildren();
  $("status").textContent = "new conversation";
});
$("api-key").addEventListener("change", loadModel);
loadModel();
