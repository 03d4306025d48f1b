package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newAccessCmd) }

func newAccessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Ask for, grant, revoke and list access to datasets (ledger entries)",
		Long: `Access to a dataset's rows follows its tier: open (any member), registered
(any member who filed a request), restricted (a live grant from the publisher)
and aggregate-only (never). Requests, grants and revocations are ledger entries,
so a request waits for a publisher that is offline, and every serving node
decides each chunk request from its ledger mirror at that moment.

request, grant and revoke go through the running node when there is one, else
straight to the ledger operator; list needs the running node.`,
		Example: `  cohortnet access request hospital-a/diabetes --purpose "HbA1c trends, IRB 2026-114"
  cohortnet access grant hospital-a/diabetes lab --expires 2027-06-30 --terms dua.txt
  cohortnet access revoke hospital-a/diabetes lab
  cohortnet access list`,
	}
	cmd.AddCommand(newAccessRequestCmd(), newAccessGrantCmd(), newAccessRevokeCmd(), newAccessListCmd())
	return cmd
}

// submitEntry records e through the running node's API (path, body) or,
// without one, directly with the ledger operator.
func submitEntry(cmd *cobra.Command, path string, body any, e *ledger.Entry) (*ledger.Commitment, error) {
	ctx := cmd.Context()
	c, err := node.Dial(ctx, dataDir())
	if err == nil {
		var cm ledger.Commitment
		if err := c.Do(ctx, http.MethodPost, path, body, &cm); err != nil {
			return nil, err
		}
		return &cm, nil
	}
	if !errors.Is(err, node.ErrNotRunning) {
		return nil, err
	}
	return ledgerd.Submit(ctx, dataDir(), e, nil)
}

func printCommitment(cmd *cobra.Command, what string, cm *ledger.Commitment) error {
	if g.json {
		return printJSON(cmd.OutOrStdout(), cm)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: ledger entry %d\n", what, cm.Index)
	return nil
}

// memberPeer resolves a member's short name or a peer id.
func memberPeer(s string) (peer.ID, error) {
	if c, err := consortium.Load(dataDir()); err == nil {
		if m, ok := c.MemberByShortName(s); ok {
			return m.Peer, nil
		}
	}
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%q is neither a member's short name nor a peer id", s)
	}
	return p, nil
}

func newAccessRequestCmd() *cobra.Command {
	var purpose string
	cmd := &cobra.Command{
		Use:     "request NAME [--purpose TEXT]",
		Short:   "File an access request for a dataset (a request ledger entry)",
		Example: `  cohortnet access request hospital-a/diabetes --purpose "HbA1c trends"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := ledger.NewEntry(ledger.KindRequest, time.Now())
			e.Dataset, e.Purpose = args[0], purpose
			cm, err := submitEntry(cmd, "/api/v1/access/requests", map[string]string{"dataset": args[0], "purpose": purpose}, e)
			if err != nil {
				return err
			}
			return printCommitment(cmd, "requested access to "+args[0], cm)
		},
	}
	cmd.Flags().StringVar(&purpose, "purpose", "", "what the data is for (recorded in the ledger)")
	return cmd
}

func newAccessGrantCmd() *cobra.Command {
	var expires, termsFile string
	cmd := &cobra.Command{
		Use:   "grant NAME PEER [--expires DATE] [--terms FILE]",
		Short: "Grant a member access to a dataset you published",
		Example: `  cohortnet access grant hospital-a/diabetes lab --expires 2027-06-30
  cohortnet access grant hospital-a/diabetes 12D3KooW... --terms dua.txt`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := memberPeer(args[1])
			if err != nil {
				return err
			}
			e := ledger.NewEntry(ledger.KindGrant, time.Now())
			e.Dataset, e.Grantee = args[0], p
			body := map[string]string{"dataset": args[0], "peer": p.String()}
			if expires != "" {
				t, err := time.Parse("2006-01-02", expires)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, expires); err != nil {
						return fmt.Errorf("--expires %q: use YYYY-MM-DD or RFC 3339", expires)
					}
				}
				e.Expires = t
				body["expires"] = t.Format(time.RFC3339)
			}
			if termsFile != "" {
				b, err := os.ReadFile(termsFile)
				if err != nil {
					return fmt.Errorf("--terms: %w", err)
				}
				e.Terms = string(b)
				body["terms"] = e.Terms
			}
			cm, err := submitEntry(cmd, "/api/v1/access/grants", body, e)
			if err != nil {
				return err
			}
			return printCommitment(cmd, fmt.Sprintf("granted %s access to %s", args[1], args[0]), cm)
		},
	}
	cmd.Flags().StringVar(&expires, "expires", "", "date the grant ends (YYYY-MM-DD or RFC 3339); default: no expiry")
	cmd.Flags().StringVar(&termsFile, "terms", "", "file with the data-use terms, recorded in the grant")
	return cmd
}

func newAccessRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke NAME PEER",
		Short:   "Revoke a member's access to a dataset you published (applies at its next request)",
		Example: `  cohortnet access revoke hospital-a/diabetes lab`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := memberPeer(args[1])
			if err != nil {
				return err
			}
			e := ledger.NewEntry(ledger.KindRevoke, time.Now())
			e.Dataset, e.Grantee = args[0], p
			ctx := cmd.Context()
			var cm *ledger.Commitment
			if c, err := node.Dial(ctx, dataDir()); err == nil {
				var grants []node.EntryInfo
				if err := c.Do(ctx, http.MethodGet, "/api/v1/access/grants", nil, &grants); err != nil {
					return err
				}
				id := ""
				for _, gr := range grants {
					if gr.Dataset == args[0] && gr.Grantee == p.String() {
						id = fmt.Sprint(gr.Index)
					}
				}
				if id == "" {
					return fmt.Errorf("%s holds no live grant of %s", args[1], args[0])
				}
				cm = &ledger.Commitment{}
				if err := c.Do(ctx, http.MethodDelete, "/api/v1/access/grants/"+id, nil, cm); err != nil {
					return err
				}
			} else if errors.Is(err, node.ErrNotRunning) {
				if cm, err = ledgerd.Submit(ctx, dataDir(), e, nil); err != nil {
					return err
				}
			} else {
				return err
			}
			return printCommitment(cmd, fmt.Sprintf("revoked %s's access to %s", args[1], args[0]), cm)
		},
	}
}

func newAccessListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List pending requests (yours, and for your datasets) and live grants",
		Example: `  cohortnet access list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := node.Dial(ctx, dataDir())
			if err != nil {
				return err
			}
			var reqs, grants []node.EntryInfo
			if err := c.Do(ctx, http.MethodGet, "/api/v1/access/requests", nil, &reqs); err != nil {
				return err
			}
			if err := c.Do(ctx, http.MethodGet, "/api/v1/access/grants", nil, &grants); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"requests": reqs, "grants": grants})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tID\tDATASET\tPEER\tSINCE\tEXPIRES\tPURPOSE")
			for _, r := range reqs {
				fmt.Fprintf(tw, "request\t%d\t%s\t%s\t%s\t\t%s\n", r.Index, r.Dataset, r.Author, r.Time.Format(time.DateOnly), r.Purpose)
			}
			for _, gr := range grants {
				fmt.Fprintf(tw, "grant\t%d\t%s\t%s\t%s\t%s\t\n", gr.Index, gr.Dataset, gr.Grantee, gr.Time.Format(time.DateOnly), gr.Expires)
			}
			return tw.Flush()
		},
	}
}
