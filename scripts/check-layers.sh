#!/usr/bin/env bash
# Fails when a module imports one of the project's modules it may not (DESIGN.md, "Layers"): the module graph
# is one-directional, C shims and EventLogFoundation → EventLog → StreamJet → LiveViews → Simulator → Tools,
# with KafkaServer (network services) and ChangeCapture on EventLog only, used by Tools.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [CEventLogSupport]=""
  [EventLogFoundation]="CEventLogSupport"
  [EventLog]="EventLogFoundation CEventLogSupport CLZ4 CZstd"
  [StreamJet]="EventLogFoundation EventLog"
  [LiveViews]="EventLogFoundation EventLog StreamJet CEventLogSupport"
  [Simulator]="EventLogFoundation EventLog LiveViews"
  [KafkaServer]="EventLogFoundation EventLog"
  [KafkaClient]="EventLogFoundation EventLog StreamJet CRdKafka"
  [WebServer]="EventLogFoundation EventLog LiveViews Simulator Services"
  [CommandLineInput]="EventLogFoundation EventLog"
  [ChangeCapture]="EventLogFoundation EventLog"
  [Services]="EventLogFoundation EventLog"
  [Tools]="EventLogFoundation EventLog StreamJet LiveViews Simulator KafkaServer KafkaClient WebServer CommandLineInput ChangeCapture Services"
)
project="CEventLogSupport CLZ4 CZstd CRdKafka EventLogFoundation EventLog StreamJet LiveViews Simulator KafkaServer KafkaClient WebServer CommandLineInput ChangeCapture Services Tools"
status=0
for module in "${!allowed[@]}"; do
  [ -d "Sources/$module" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    imported=$(sed -E 's/.*import +([A-Za-z_]+).*/\1/' <<<"${line#*:}")
    case " $project " in *" $imported "*) ;; *) continue ;; esac
    case " ${allowed[$module]} " in
      *" $imported "*) ;;
      *) echo "layer violation: $file ($module) imports $imported; allowed: ${allowed[$module]:-none}"; status=1 ;;
    esac
  done < <(grep -rEH '^(@testable +|@_exported +)?((public|package|internal) +)?import +[A-Za-z_]+' "Sources/$module" --include='*.swift' || true)
done
# Folders inside StreamJet: the processors (Processors/) and the engine core (Core/, Execution/) never name the
# pipeline API (Pipeline/), which builds them; the dependency runs one way.
while IFS= read -r line; do
  echo "layer violation: ${line%%:*} (StreamJet processors/core) names the pipeline API: ${line#*:}"
  status=1
done < <(grep -rnE '\b(Pipeline|PipelineNode|Stage|KeyedStage|WindowedStage|WindowAggregateStage|SourceStage|SourceSpec|StatelessSpec|ChainAppendable|NodeInput|InputRouting)\b' \
  Sources/StreamJet/Processors Sources/StreamJet/Core Sources/StreamJet/Execution --include='*.swift' \
  | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ $status -eq 0 ] && echo "layers: every import goes downward"
exit $status
