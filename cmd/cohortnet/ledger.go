package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newLedgerCmd) }

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Read and verify the consortium's witnessed ledger",
		Long: `The ledger is the consortium's append-only log of publications, retractions,
access requests, grants, revocations, accesses and aggregate releases, with
checkpoints signed by the operator and cosigned by a quorum of witnesses. These
commands keep a verified mirror of it in <data>/ledger/mirror, updated from the
operator on each run (--offline uses the mirror as it is).`,
		Example: `  cohortnet ledger info
  cohortnet ledger entries --kind grant --dataset hospital-a/diabetes
  cohortnet ledger prove bafyrei...
  cohortnet ledger verify --from http://ledger.example:7400`,
	}
	var offline bool
	cmd.PersistentFlags().BoolVar(&offline, "offline", false, "do not contact the operator; use the local mirror")
	open := func(cmd *cobra.Command) (*ledgerd.Opened, error) {
		o, err := ledgerd.OpenMirror(cmd.Context(), dataDir(), &http.Client{Timeout: 30 * time.Second}, offline)
		if err != nil {
			return nil, err
		}
		if o.UpdateErr != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "cohortnet: warning: could not update the ledger mirror (%v); showing what was verified before\n", o.UpdateErr)
		}
		return o, nil
	}
	cmd.AddCommand(newLedgerInfoCmd(open), newLedgerCheckpointCmd(open), newLedgerEntriesCmd(open),
		newLedgerProveCmd(open), newLedgerVerifyCmd())
	return cmd
}

type openFunc func(*cobra.Command) (*ledgerd.Opened, error)

func newLedgerInfoCmd(open openFunc) *cobra.Command {
	return &cobra.Command{
		Use:     "info",
		Short:   "Show the log's origin, size and the operator's and witnesses' keys",
		Example: "  cohortnet ledger info --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := open(cmd)
			if err != nil {
				return err
			}
			c := o.Consortium
			var ws []map[string]string
			for _, w := range c.Witnesses {
				ws = append(ws, map[string]string{"name": w.Name, "key": w.Key, "url": w.HTTP})
			}
			info := map[string]any{
				"origin": c.Ledger.Origin, "url": c.Ledger.HTTP, "size": o.Mirror.Size(),
				"operator_key": c.Ledger.Key, "witnesses": ws, "quorum": c.Quorum,
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), info)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "origin       %s\nurl          %s\nsize         %d entries (verified)\noperator key %s\nquorum       %d of %d witnesses\n",
				c.Ledger.Origin, c.Ledger.HTTP, o.Mirror.Size(), c.Ledger.Key, c.Quorum, len(c.Witnesses))
			for _, x := range c.Witnesses {
				fmt.Fprintf(w, "witness      %s\n", x.Key)
			}
			return nil
		},
	}
}

func newLedgerCheckpointCmd(open openFunc) *cobra.Command {
	return &cobra.Command{
		Use:     "checkpoint",
		Short:   "Print the current cosigned checkpoint",
		Example: "  cohortnet ledger checkpoint",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := open(cmd)
			if err != nil {
				return err
			}
			cp := o.Mirror.Checkpoint()
			if cp == nil {
				return fmt.Errorf("no verified checkpoint yet: the operator at %s has not been reached", o.Consortium.Ledger.HTTP)
			}
			_, err = cmd.OutOrStdout().Write(cp)
			return err
		},
	}
}

func newLedgerEntriesCmd(open openFunc) *cobra.Command {
	var kind, dataset string
	cmd := &cobra.Command{
		Use:     "entries",
		Short:   "List the log's entries, optionally of one kind or dataset",
		Example: "  cohortnet ledger entries --kind publish\n  cohortnet ledger entries --dataset hospital-a/diabetes --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kind != "" && !isKind(kind) {
				return fmt.Errorf("--kind %q: use publish, retract, request, grant, revoke, access or release", kind)
			}
			o, err := open(cmd)
			if err != nil {
				return err
			}
			names := map[string]string{}
			for _, m := range o.Consortium.Members {
				names[m.Peer.String()] = m.ShortName
			}
			w := cmd.OutOrStdout()
			for e, err := range o.Mirror.Entries(cmd.Context()) {
				if err != nil {
					return err
				}
				if kind != "" && string(e.Kind) != kind || dataset != "" && e.Dataset != dataset && !manifestOf(o, e, dataset) {
					continue
				}
				j := node.NewEntryInfo(e)
				if g.json {
					if err := printJSON(w, j); err != nil {
						return err
					}
					continue
				}
				who := names[j.Author]
				if who == "" {
					who = j.Author
				}
				fmt.Fprintf(w, "%6d  %-8s %s  %-14s %s\n", j.Index, j.Kind, j.Time.Format("2006-01-02 15:04:05"), who, describe(j, names))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only entries of this kind")
	cmd.Flags().StringVar(&dataset, "dataset", "", "only entries about this dataset (institution/name)")
	return cmd
}

// manifestOf reports whether e names a manifest of dataset.
func manifestOf(o *ledgerd.Opened, e ledger.Entry, dataset string) bool {
	if !e.Manifest.Defined() {
		return false
	}
	p, ok := o.Mirror.State().Publication(e.Manifest)
	return ok && p.Dataset == dataset
}

func isKind(k string) bool {
	for _, x := range ledger.Kinds {
		if string(x) == k {
			return true
		}
	}
	return false
}

func describe(j node.EntryInfo, names map[string]string) string {
	name := func(id string) string {
		if n := names[id]; n != "" {
			return n
		}
		return id
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("dataset", j.Dataset)
	if j.Version != 0 {
		add("version", fmt.Sprint(j.Version))
	}
	add("access", j.Access)
	add("manifest", j.Manifest)
	add("reason", j.Reason)
	add("purpose", j.Purpose)
	if j.Grantee != "" {
		add("grantee", name(j.Grantee))
	}
	add("expires", j.Expires)
	if j.Requester != "" {
		add("requester", name(j.Requester))
		add("chunks", fmt.Sprint(j.Chunks))
		add("bytes", fmt.Sprint(j.Bytes))
	}
	if j.Recipient != "" {
		add("recipient", name(j.Recipient))
		add("epsilon", fmt.Sprint(j.Epsilon))
	}
	return strings.Join(parts, " ")
}

func newLedgerProveCmd(open openFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "prove CID",
		Short: "Print the commitment of a manifest's publish entry",
		Long: `prove prints the commitment (index, cosigned checkpoint, inclusion proof and the
entry) that anchors the manifest CID in the ledger, as JSON any party can check
offline with the operator's and witnesses' keys.`,
		Example: "  cohortnet ledger prove bafyreib...",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cid.Decode(args[0])
			if err != nil {
				return fmt.Errorf("%q is not a CID: %w", args[0], err)
			}
			o, err := open(cmd)
			if err != nil {
				return err
			}
			p, ok := o.Mirror.State().Publication(c)
			if !ok {
				return exitError{1, fmt.Sprintf("manifest %s has no publish entry in the ledger (verified size %d)", c, o.Mirror.Size())}
			}
			cm, err := o.Mirror.Prove(cmd.Context(), p.Index)
			if err != nil {
				return err
			}
			v, err := ledger.VerifiersFor(o.Consortium.Config)
			if err != nil {
				return err
			}
			if _, _, err := ledger.VerifyCommitment(cm, v); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), cm)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "manifest %s: %s version %d, entry %d%s\n", c, p.Dataset, p.Version, p.Index, map[bool]string{true: " (RETRACTED)"}[p.Retracted])
			fmt.Fprintf(w, "entry    %s\nproof\n", base64.StdEncoding.EncodeToString(cm.Entry))
			for _, h := range cm.Proof {
				fmt.Fprintf(w, "  %s\n", base64.StdEncoding.EncodeToString(h))
			}
			fmt.Fprintf(w, "checkpoint\n%s", cm.Checkpoint)
			return nil
		},
	}
}

func newLedgerVerifyCmd() *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the whole log: signatures, quorum, every entry and tile, consistency",
		Long: `verify reads the whole log from the operator (or --from a URL or a directory
in tlog-tiles layout), checks the checkpoint's signature and witness quorum,
every entry's encoding and author signature, re-derives every tile hash from the
entries and compares it with the log's, and checks the log extends the last
checkpoint this node verified. It exits 0 only when all hold.`,
		Example: "  cohortnet ledger verify\n  cohortnet ledger verify --from /srv/ledger/ledger/log",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := dataDir()
			o, err := ledgerd.OpenMirror(cmd.Context(), d, nil, true)
			if err != nil {
				return err
			}
			v, err := ledger.VerifiersFor(o.Consortium.Config)
			if err != nil {
				return err
			}
			if from == "" {
				from = o.Consortium.Ledger.HTTP
			}
			var src ledger.Source
			if strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://") {
				if src, err = ledger.HTTPSource(from, &http.Client{Timeout: 60 * time.Second}); err != nil {
					return err
				}
			} else {
				src = ledger.DirSource(from)
			}
			previous, err := os.ReadFile(d.Join(datadir.LedgerDir, ledgerd.MirrorDir, "checkpoint"))
			if err != nil {
				previous = nil
			}
			r, err := ledger.VerifyLog(cmd.Context(), src, v, previous)
			if err != nil {
				return exitError{1, fmt.Sprintf("ledger at %s does NOT verify: %v", from, err)}
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger %s at %s verifies: %d entries, root %s, %d witness cosignatures (quorum %d), %d tiles re-derived, consistent with the last checkpoint seen (%s)\n",
				r.Origin, from, r.Size, base64.StdEncoding.EncodeToString(r.Root), r.Cosigned, v.Quorum, r.Tiles, seen(previous))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "URL or directory of the log (default: the operator)")
	return cmd
}

func seen(previous []byte) string {
	if previous == nil {
		return "none yet"
	}
	first, _, _ := strings.Cut(strings.SplitN(string(previous), "\n", 3)[1], "\n")
	return "size " + first
}
