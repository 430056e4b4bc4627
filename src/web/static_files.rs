//! The console's few static files, compiled into the binary so a
//! deployment is one file.

use actix_web::{HttpResponse, web};

use crate::web::error::AppError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "copy-link.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/copy-link.js"),
    ),
    (
        "menu.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/menu.js"),
    ),
];

pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(file, _, _)| *file == name.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(*body))
}
