// e2e harness: runs the real ktraild binary with a file output, as a user
// would, and reads back its JSON lines.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace ktrail::e2e {

using nlohmann::json;

// A fresh directory (canonical path), removed with everything in it; in
// /tmp unless another parent is given.
struct TempDir {
    TempDir();
    explicit TempDir(const std::string& parent);
    ~TempDir();
    std::string operator/(const std::string& leaf) const { return path + "/" + leaf; }
    std::string path;
};

std::string slurp(const std::string& path);
// Every line of a JSON-lines file, parsed; a line that is not JSON fails the test.
std::vector<json> read_events(const std::string& path);

struct Agent {
    pid_t pid = -1;
    std::string out, err;  // the events file, ktraild's log (stderr)
};

// Starts ktraild writing to DIR/events.json with its state in DIR/state.
// `before_exec` runs in the child just before the exec (its stderr is the
// agent's log): "" or what failed, which stops the child.
Agent start_agent(const TempDir& dir, std::vector<std::string> extra = {}, bool as_nobody = false,
                  const std::function<std::string()>& before_exec = {});
// Waits until the agent has attached and written its agent-started event.
void wait_started(const Agent& a);
// Signals the agent and reaps it; its wait status.
int stop_agent(const Agent& a, int sig = SIGTERM);
// Runs argv (PATH lookup); its wait status.
int run(const std::vector<std::string>& cmd);
// Reads the agent's output until `want` matches an event, or 20 s; `events`
// holds the last read.
const json* wait_for(const Agent& a, std::vector<json>& events, const std::function<bool(const json&)>& want);
bool is_file_event(const json& e, const std::string& action, const std::string& path);
// The value at a path of keys, as text ("" if absent; non-strings as JSON).
std::string str(const json& e, std::initializer_list<const char*> path);
// The first event with this action and file.path.
const json* find(const std::vector<json>& events, const std::string& action, const std::string& path);

// GET /metrics from 127.0.0.1:PORT: the body (a non-200 answer fails).
std::string scrape_metrics(uint16_t port);
// The value of the sample `series` (name and labels as rendered); -1 if absent.
double metric_value(const std::string& text, const std::string& series);
// The port of the "metrics on 127.0.0.1:PORT" line in a ktraild log (waits up to 5 s).
uint16_t metrics_port_in_log(const std::string& log_path);

}  // namespace ktrail::e2e
