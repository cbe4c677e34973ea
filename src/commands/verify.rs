//! `chartroom verify`: a chart archive's provenance file checked with a keyring, like
//! `helm verify` (and stricter: see `chartroom_client::verify`).

use chartroom_client::ClientError;

use crate::cli::VerifyArgs;

pub fn run(args: &VerifyArgs) -> Result<(), ClientError> {
    let verification = chartroom_client::verify::verify_file(&args.chart, &args.keyring)?;
    print!("{}", verification.summary());
    Ok(())
}
