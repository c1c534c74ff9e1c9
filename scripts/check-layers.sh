#!/usr/bin/env bash
# Fails when a module imports one of the project's modules it may not (DESIGN.md, "Layers"): the module graph
# is one-directional, C shims and EventLogFoundation → EventLog → StreamJet → LiveViews → Simulator → Tools,
# with KafkaServer (network services) on EventLog only, used by Tools.
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
  [CommandLineInput]="EventLogFoundation EventLog"
  [Tools]="EventLogFoundation EventLog StreamJet LiveViews Simulator KafkaServer CommandLineInput"
)
project="CEventLogSupport CLZ4 CZstd EventLogFoundation EventLog StreamJet LiveViews Simulator KafkaServer CommandLineInput Tools"
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
[ $status -eq 0 ] && echo "layers: every import goes downward"
exit $status
