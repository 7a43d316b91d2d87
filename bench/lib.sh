# bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run).
# A script that sources it keeps its remarks in a NOTES array and prints
# them with its report.

# log MSG...: print a progress line on stderr.
log() {
    printf 'bench: %s\n' "$*" >&2
}

# die MSG...: print an error and exit 1.
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# note MSG...: remember a remark for the end of the report and log it now.
note() {
    NOTES+=("$*")
    log "$*"
}

# mount_table: sorted "mountpoint fstype source" lines of this mount namespace.
mount_table() {
    awk '{
        for (i = 7; i <= NF; i++) if ($i == "-") break
        print $5, $(i + 1), $(i + 2)
    }' /proc/self/mountinfo | LC_ALL=C sort
}

# quote_words WORDS...: print WORDS as one command line that hyperfine -N
# splits back into the same words: a word with characters other than
# [A-Za-z0-9_./=:@%+,{}-] is single-quoted. {i} stays as is, for hyperfine.
quote_words() {
    local out="" w q="'"
    for w in "$@"; do
        if [[ $w =~ ^[A-Za-z0-9_./=:@%+,{}-]+$ ]]; then
            out+="${out:+ }$w"
        else
            out+="${out:+ }'${w//$q/$q\\$q$q}'"
        fi
    done
    printf '%s' "$out"
}
